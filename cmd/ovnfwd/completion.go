package main

import (
	"fmt"

	"github.com/ovnfwd/ovnfwd/engine"
	"github.com/urfave/cli/v2"
)

// completionScript asks the binary itself for candidates: urfave/cli
// answers --generate-bash-completion with the subcommands or flags that fit.
const completionScript = `# ovnfwd shell completion; load with: source <(ovnfwd completion %[1]s)
%[2]s_ovnfwd_complete() {
	local cur=${COMP_WORDS[COMP_CWORD]} opts
	if [[ $cur == -* ]]; then
		opts=$("${COMP_WORDS[@]:0:COMP_CWORD}" "$cur" --generate-bash-completion 2>/dev/null)
	else
		opts=$("${COMP_WORDS[@]:0:COMP_CWORD}" --generate-bash-completion 2>/dev/null)
	fi
	COMPREPLY=($(compgen -W "$opts" -- "$cur"))
}
complete -o default -F _ovnfwd_complete ovnfwd
`

func completionCommand() *cli.Command {
	return &cli.Command{
		Name:      "completion",
		Usage:     "print a shell completion script (bash or zsh)",
		ArgsUsage: "bash|zsh",
		Description: `completion prints a script that completes ovnfwd's subcommands and flags.

Examples:
   source <(ovnfwd completion bash)        # this shell
   ovnfwd completion bash > /etc/bash_completion.d/ovnfwd
   source <(ovnfwd completion zsh)         # zsh, through bashcompinit`,
		OnUsageError: usageError,
		Action: func(c *cli.Context) error {
			switch sh := c.Args().First(); sh {
			case "bash":
				fmt.Fprintf(c.App.Writer, completionScript, sh, "")
			case "zsh":
				fmt.Fprintf(c.App.Writer, completionScript, sh, "autoload -U +X bashcompinit && bashcompinit\n")
			default:
				return cli.Exit(fmt.Sprintf("completion: want bash or zsh, got %q", sh), engine.ExitError)
			}
			return nil
		},
	}
}
