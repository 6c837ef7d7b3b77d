import sys

from tfcontroller.dev.demo.tour import main

sys.exit(main())
