"""Each job's command line, one module per job: the flags it declares (sections of the config
tree, made into argparse flags by flags.py), the library call, the output. `jobs/<name>.py` and
the `smoot-<name>` console commands run them; the library calls are in workflows/, sweep/,
reproduction/, reports/ and data/."""
