package main

import (
	"encoding/csv"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"
	"unicode/utf8"

	"golang.org/x/term"
)

// defaultWidth is the width tables fit when the terminal's is unknown.
const defaultWidth = 80

// stackIndent indents a row's last column when it goes under the row.
const stackIndent = 4

// termWidth is the width tables fit: $COLUMNS, else the terminal's, else 80.
func termWidth() int {
	if n, err := strconv.Atoi(os.Getenv("COLUMNS")); err == nil && n >= 40 {
		return n
	}
	if n, _, err := term.GetSize(int(os.Stdout.Fd())); err == nil && n >= 40 {
		return n
	}
	return defaultWidth
}

// table is rows of cells under a header, rendered as aligned columns.
type table struct {
	header []string
	rows   [][]string
}

func (t *table) add(cells ...string) { t.rows = append(t.rows, cells) }

// write renders the table within width: every column but the last is as
// wide as its widest cell, and the last one wraps at word boundaries (a
// word longer than the room left is cut), its continuation lines indented
// under it; when fewer than 40 columns are left for it, it goes under its
// row instead, indented, wrapped to the whole width. width <= 0: no limit
// (one line per row: --wide, compact).
func (t *table) write(w io.Writer, width int) error {
	n := len(t.header)
	widths := make([]int, n)
	for _, r := range append([][]string{t.header}, t.rows...) {
		for i := 0; i < n-1 && i < len(r); i++ {
			widths[i] = max(widths[i], utf8.RuneCountInString(r[i]))
		}
	}
	indent := 0
	for i := 0; i < n-1; i++ {
		indent += widths[i] + 2
	}
	room := width - indent
	// Too little room beside the other columns: the last column goes on
	// its own lines under each row, indented, across the whole width.
	stacked := width > 0 && room < 40
	var b strings.Builder
	if stacked {
		room = max(width-stackIndent, 20)
		for k, r := range append([][]string{t.header[:n-1]}, t.rows...) {
			var lead strings.Builder
			for i := 0; i < n-1 && i < len(r); i++ {
				lead.WriteString(r[i] + strings.Repeat(" ", widths[i]-utf8.RuneCountInString(r[i])+2))
			}
			b.WriteString(strings.TrimRight(lead.String(), " ") + "\n")
			if k == 0 || len(r) < n || r[n-1] == "" {
				continue
			}
			for _, l := range wrap(r[n-1], room) {
				b.WriteString(strings.Repeat(" ", stackIndent) + l + "\n")
			}
		}
		_, err := io.WriteString(w, b.String())
		return err
	}
	for _, r := range append([][]string{t.header}, t.rows...) {
		var lead strings.Builder
		for i := 0; i < n-1; i++ {
			c := ""
			if i < len(r) {
				c = r[i]
			}
			lead.WriteString(c + strings.Repeat(" ", widths[i]-utf8.RuneCountInString(c)+2))
		}
		last := ""
		if len(r) >= n {
			last = r[n-1]
		}
		lines := []string{last}
		if width > 0 {
			lines = wrap(last, room)
		}
		for j, l := range lines {
			if j == 0 {
				b.WriteString(strings.TrimRight(lead.String()+l, " ") + "\n")
			} else {
				b.WriteString(strings.Repeat(" ", indent) + l + "\n")
			}
		}
	}
	_, err := io.WriteString(w, b.String())
	return err
}

// writeCSV renders the table as CSV, header first.
func (t *table) writeCSV(w io.Writer) error {
	cw := csv.NewWriter(w)
	if err := cw.Write(t.header); err != nil {
		return err
	}
	if err := cw.WriteAll(t.rows); err != nil {
		return err
	}
	return cw.Error()
}

// wrap breaks s into lines of at most width runes at spaces.
func wrap(s string, width int) []string {
	if width <= 0 || utf8.RuneCountInString(s) <= width {
		return []string{s}
	}
	var lines []string
	var cur []rune
	for _, word := range strings.Fields(s) {
		wr := []rune(word)
		for len(wr) > width { // a word longer than a line
			if len(cur) > 0 {
				lines = append(lines, string(cur))
				cur = nil
			}
			lines = append(lines, string(wr[:width]))
			wr = wr[width:]
		}
		switch {
		case len(cur) == 0:
			cur = wr
		case len(cur)+1+len(wr) <= width:
			cur = append(append(cur, ' '), wr...)
		default:
			lines = append(lines, string(cur))
			cur = wr
		}
	}
	if len(cur) > 0 {
		lines = append(lines, string(cur))
	}
	return lines
}

// fmtError is the error of an unknown --format.
func fmtError(flag string, allowed ...string) error {
	return fmt.Errorf("--format %q: want %s", flag, strings.Join(allowed, ", "))
}
