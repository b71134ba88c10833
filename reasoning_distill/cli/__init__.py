"""The `rdistill` command line. Each subcommand is a module with HELP, add_arguments, main."""
