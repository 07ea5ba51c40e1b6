package main

import (
	"fmt"

	"github.com/urfave/cli/v2"
)

// manCommand prints the man page made from the command definitions
// (contrib/ovnfwd.1 is its output; a test keeps the two equal).
func manCommand() *cli.Command {
	return &cli.Command{
		Name:   "man",
		Usage:  "print the ovnfwd(1) man page (roff), made from these commands and flags",
		Hidden: true,
		Action: func(c *cli.Context) error {
			page, err := manPage()
			if err != nil {
				return err
			}
			_, err = fmt.Fprint(c.App.Writer, page)
			return err
		},
	}
}

func manPage() (string, error) {
	app := newApp()
	app.Version = "" // the page does not change with every build
	return app.ToMan()
}
