"""The reidkit command line: one thin Typer module per subcommand."""
