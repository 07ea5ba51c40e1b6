//go:build bench

package main

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// nbLog reads the transactions ovsdb-server appends to a standalone
// database file (the test bed's NB): each record carries the server's own
// commit time (`_date`, ms) and the writer's `_comment` (ovn-nbctl and
// ovn-northd set one; libovsdb clients such as ovnfwd do not). Timing NB
// changes from here needs no replica of its own, so an observer that lags
// on a loaded machine cannot make a write look late.
type nbLog struct {
	path string
	ino  uint64 // compaction writes a new file and renames it over
	off  int64
	rest []byte // an incomplete record at the end of the last read
}

// nbTxn is one committed transaction.
type nbTxn struct {
	Date    time.Time
	Comment string
	// Tables maps a table to its rows (UUID → the row or its diff; null
	// for a deletion), as recorded.
	Tables map[string]map[string]json.RawMessage
	Raw    []byte
}

var errCompacted = errors.New("the database file was compacted (rewritten) since the last read")

// openNBLog starts reading at the file's current end.
func openNBLog(path string) (*nbLog, error) {
	st, err := os.Stat(path)
	if err != nil {
		return nil, err
	}
	return &nbLog{path: path, ino: inode(st), off: st.Size()}, nil
}

func inode(st os.FileInfo) uint64 {
	if s, ok := st.Sys().(*syscall.Stat_t); ok {
		return s.Ino
	}
	return 0
}

// next returns the transactions committed since the last call. A file that
// was replaced or shrank was compacted: the records in between are gone,
// errCompacted says so and reading goes on from the new end.
func (l *nbLog) next() ([]nbTxn, error) {
	f, err := os.Open(l.path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return nil, err
	}
	if ino := inode(st); ino != l.ino || st.Size() < l.off {
		l.ino, l.off, l.rest = ino, st.Size(), nil
		return nil, errCompacted
	}
	if _, err := f.Seek(l.off, io.SeekStart); err != nil {
		return nil, err
	}
	data, err := io.ReadAll(f)
	if err != nil {
		return nil, err
	}
	l.off += int64(len(data))
	buf := append(l.rest, data...)
	txns, used, err := parseNBLog(buf)
	l.rest = append([]byte(nil), buf[used:]...)
	return txns, err
}

// parseNBLog parses whole records ("OVSDB JSON <len> <sha1>\n<json>\n") from
// buf and returns how many bytes they took; a trailing partial record is
// left for the next read. The schema record (no `_date`) is skipped.
func parseNBLog(buf []byte) ([]nbTxn, int, error) {
	var out []nbTxn
	used := 0
	for {
		rest := buf[used:]
		nl := bytes.IndexByte(rest, '\n')
		if nl < 0 {
			return out, used, nil
		}
		hdr := strings.Fields(string(rest[:nl]))
		if len(hdr) != 4 || hdr[0] != "OVSDB" || hdr[1] != "JSON" {
			return out, used, fmt.Errorf("NB log: bad record header %q at byte %d", rest[:nl], used)
		}
		n, err := strconv.Atoi(hdr[2])
		if err != nil || n < 0 {
			return out, used, fmt.Errorf("NB log: bad record length %q", hdr[2])
		}
		if len(rest) < nl+1+n {
			return out, used, nil
		}
		body := rest[nl+1 : nl+1+n]
		end := nl + 1 + n
		if end < len(rest) && rest[end] == '\n' {
			end++
		}
		used += end
		var rec map[string]json.RawMessage
		if err := json.Unmarshal(body, &rec); err != nil {
			return out, used, fmt.Errorf("NB log: record at byte %d: %w", used-end, err)
		}
		ms, ok := rec["_date"]
		if !ok {
			continue // the schema
		}
		var t nbTxn
		var date int64
		if err := json.Unmarshal(ms, &date); err != nil {
			return out, used, fmt.Errorf("NB log: _date %s: %w", ms, err)
		}
		t.Date = time.UnixMilli(date)
		if c, ok := rec["_comment"]; ok {
			_ = json.Unmarshal(c, &t.Comment)
		}
		t.Tables = map[string]map[string]json.RawMessage{}
		for k, v := range rec {
			if strings.HasPrefix(k, "_") {
				continue
			}
			var rows map[string]json.RawMessage
			if json.Unmarshal(v, &rows) == nil {
				t.Tables[k] = rows
			}
		}
		t.Raw = append([]byte(nil), body...)
		out = append(out, t)
	}
}

// rowsTouched returns, of txns, those that touch a Load_Balancer row named
// one of names or with one of the known UUIDs (created, changed, deleted,
// or attached to / detached from a router or switch), with the UUIDs of
// every such row added to known.
func rowsTouched(txns []nbTxn, names []string, known map[string]bool) []nbTxn {
	for _, t := range txns {
		for uuid, row := range t.Tables["Load_Balancer"] {
			var cols struct {
				Name string `json:"name"`
			}
			if json.Unmarshal(row, &cols) == nil && contains(names, cols.Name) {
				known[uuid] = true
			}
		}
	}
	var out []nbTxn
	for _, t := range txns {
		for uuid := range known {
			if bytes.Contains(t.Raw, []byte(uuid)) {
				out = append(out, t)
				break
			}
		}
	}
	return out
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

// writerOf names who committed a transaction, from its comment: ovn-nbctl
// (LXD 5.0.x writes its forwards through it; nothing else runs ovn-nbctl
// while the events phase runs), ovn-northd, or a libovsdb client (no
// comment: ovnfwd, the only one writing Load_Balancer rows here).
func writerOf(t nbTxn) string {
	switch {
	case strings.HasPrefix(t.Comment, "ovn-nbctl"):
		return "ovn-nbctl"
	case strings.HasPrefix(t.Comment, "ovn-northd"):
		return "ovn-northd"
	case t.Comment == "":
		return "libovsdb"
	}
	return t.Comment
}

// readNBLog reads the next transactions; an error becomes a note on the
// operation being measured, never the end of the run.
func readNBLog(l *nbLog) ([]nbTxn, string) {
	if l == nil {
		return nil, "no NB database file"
	}
	txns, err := l.next()
	if err != nil {
		return txns, err.Error()
	}
	return txns, ""
}
