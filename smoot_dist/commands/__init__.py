"""The jobs' entry points: each module declares its flags (sections of the config tree, through
cli.py), calls the library and prints. `jobs/<name>.py` and the `smoot-<name>` console commands
run them."""
