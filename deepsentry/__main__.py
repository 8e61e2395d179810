from deepsentry.cli import main

raise SystemExit(main())
