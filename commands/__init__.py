"""The reidkit command line, installed as reidkit.commands: one Typer module per subcommand."""
