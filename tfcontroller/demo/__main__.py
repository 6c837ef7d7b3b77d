import sys

from tfcontroller.demo.tour import main

sys.exit(main())
