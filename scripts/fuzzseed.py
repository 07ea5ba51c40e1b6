#!/usr/bin/env python3
"""Write a Go fuzz corpus file: fuzzseed.py DIR/testdata/fuzz/FuzzX NAME TYPE:VALUE...

TYPE is string, bytes, hex (bytes given in hex), int, uint8, uint16,
uint32, int64, bool. Used to add seed (or
regression) examples by hand; `go test` runs every file as a test case.
"""
import json, os, sys

def quote(s):
    return json.dumps(s, ensure_ascii=False)

def line(arg):
    typ, _, val = arg.partition(":")
    if typ == "string":
        return "string(%s)" % quote(val)
    if typ == "hex":
        return '[]byte("%s")' % "".join("\\x%02x" % b for b in bytes.fromhex(val))
    if typ == "bytes":
        return "[]byte(%s)" % quote(val)
    if typ in ("int", "uint16", "uint8", "int64", "uint32"):
        return "%s(%s)" % (typ, int(val))
    if typ == "bool":
        return "bool(%s)" % ("true" if val == "true" else "false")
    raise SystemExit("unknown type " + typ)

def write(d, name, args):
    os.makedirs(d, exist_ok=True)
    with open(os.path.join(d, name), "w") as f:
        f.write("go test fuzz v1\n")
        for a in args:
            f.write(line(a) + "\n")

if __name__ == "__main__":
    write(sys.argv[1], sys.argv[2], sys.argv[3:])
