"""One runner per command (`reidkit/stages/<command>.py`), above the domain packages: a command
parses its options and calls its stage; no domain package imports a stage."""
