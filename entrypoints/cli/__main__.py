"""``python -m entrypoints.cli``: the same as the ``addvalue`` command, exit status included."""

from entrypoints.cli.main import main

raise SystemExit(main())
