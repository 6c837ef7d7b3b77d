from tfcontroller.cli.main import main

raise SystemExit(main())
