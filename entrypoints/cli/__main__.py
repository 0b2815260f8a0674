"""``python -m entrypoints.cli``: the same as the ``addvalue`` command."""

from entrypoints.cli.main import main

main()
