//go:build bench

package main

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"testing"
)

func record(body string) string {
	return fmt.Sprintf("OVSDB JSON %d 0000000000000000000000000000000000000000\n%s\n", len(body), body)
}

func TestNBLogReadsAppendedTransactions(t *testing.T) {
	path := filepath.Join(t.TempDir(), "nb.db")
	schema := record(`{"name":"OVN_Northbound","version":"7.0.0","tables":{}}`)
	old := record(`{"_date":1000,"Load_Balancer":{"u-old":{"name":"lxd-net2-lb-198.18.200.1-tcp"}}}`)
	if err := os.WriteFile(path, []byte(schema+old), 0o600); err != nil {
		t.Fatal(err)
	}
	l, err := openNBLog(path)
	if err != nil {
		t.Fatal(err)
	}
	create := record(`{"_date":1796289230306,"Load_Balancer":{"u1":{"name":"lxd-net2-lb-198.18.200.7-tcp","vips":["map",[["198.18.200.7:80","10.10.10.9:8080"]]]},"u2":{"name":"lxd-net2-lb-198.18.200.7-udp"}},"Logical_Router":{"r1":{"load_balancer":["set",[["uuid","u1"],["uuid","u2"]]]}},"_is_diff":true,"_comment":"ovn-nbctl: ovn-nbctl lb-add"}`)
	ping := record(`{"_date":1796289230400,"NB_Global":{"g":{"nb_cfg":27}},"_is_diff":true}`)
	fix := record(`{"_date":1796289230512,"Load_Balancer":{"u1":{"options":["map",[["neighbor_responder","all"]]]}},"_is_diff":true}`)
	other := record(`{"_date":1796289230600,"Load_Balancer":{"u9":{"name":"lxd-net2-lb-198.18.200.8-tcp"}},"_is_diff":true}`)
	// The last record arrives in two writes: the first read must leave
	// its beginning for the second.
	all := create + ping + fix + other
	cut := len(all) - 20
	f, err := os.OpenFile(path, os.O_APPEND|os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.WriteString(all[:cut]); err != nil {
		t.Fatal(err)
	}
	txns, err := l.next()
	if err != nil {
		t.Fatal(err)
	}
	if len(txns) != 3 {
		t.Fatalf("first read: %d transactions, want 3 (the old one and the partial one left out)", len(txns))
	}
	if _, err := f.WriteString(all[cut:]); err != nil {
		t.Fatal(err)
	}
	f.Close()
	more, err := l.next()
	if err != nil {
		t.Fatal(err)
	}
	if len(more) != 1 || more[0].Date.UnixMilli() != 1796289230600 {
		t.Fatalf("second read: %+v, want the completed last record", more)
	}
	txns = append(txns, more...)

	known := map[string]bool{}
	touched := rowsTouched(txns, []string{"lxd-net2-lb-198.18.200.7-tcp", "lxd-net2-lb-198.18.200.7-udp"}, known)
	if len(touched) != 2 {
		t.Fatalf("touched %d transactions, want the create and the fix", len(touched))
	}
	if !known["u1"] || !known["u2"] || known["u9"] {
		t.Errorf("known UUIDs %v, want u1 and u2 only", known)
	}
	if w := writerOf(touched[0]); w != "ovn-nbctl" {
		t.Errorf("the create's writer is %q, want ovn-nbctl", w)
	}
	if w := writerOf(touched[1]); w != "libovsdb" {
		t.Errorf("the fix's writer is %q, want libovsdb", w)
	}
	if got := touched[1].Date.UnixMilli(); got != 1796289230512 {
		t.Errorf("the fix's commit time %d, want the record's _date", got)
	}

	// A deletion names no row: it is found by a UUID known beforehand.
	del := record(`{"_date":1796289231000,"Load_Balancer":{"u1":null},"Logical_Router":{"r1":{"load_balancer":["set",[["uuid","u1"]]]}},"_is_diff":true,"_comment":"ovn-nbctl: lb-del"}`)
	if err := appendFile(path, del); err != nil {
		t.Fatal(err)
	}
	txns, err = l.next()
	if err != nil {
		t.Fatal(err)
	}
	if got := rowsTouched(txns, nil, map[string]bool{"u1": true}); len(got) != 1 {
		t.Errorf("the deletion touched %d transactions, want 1", len(got))
	}

	// Compaction writes a new file (here larger than the old one) and
	// renames it over: said, and reading goes on from its end.
	big := schema + old + create + create + create + del
	if err := os.WriteFile(path+".tmp", []byte(big), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(path+".tmp", path); err != nil {
		t.Fatal(err)
	}
	if _, err := l.next(); !errors.Is(err, errCompacted) {
		t.Fatalf("after compaction: %v, want errCompacted", err)
	}
	if err := appendFile(path, ping); err != nil {
		t.Fatal(err)
	}
	if txns, err := l.next(); err != nil || len(txns) != 1 {
		t.Fatalf("after compaction and one more record: %d, %v", len(txns), err)
	}
}

func TestNBLogRejectsGarbage(t *testing.T) {
	if _, _, err := parseNBLog([]byte("not a header\n{}\n")); err == nil {
		t.Fatal("a bad header parsed")
	}
}

func appendFile(path, s string) error {
	f, err := os.OpenFile(path, os.O_APPEND|os.O_WRONLY, 0)
	if err != nil {
		return err
	}
	defer f.Close()
	_, err = f.WriteString(s)
	return err
}
