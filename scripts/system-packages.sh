#!/usr/bin/env bash
# Installs the Debian packages the tests use when they are missing (CI runs as root on a clean machine).
set -euo pipefail
need=()
command -v sshd >/dev/null 2>&1 || [ -x /usr/sbin/sshd ] || need+=(openssh-server)
command -v git >/dev/null 2>&1 || need+=(git)
# The dev cluster's node sandboxes every container with bubblewrap (and util-linux's setpriv/prlimit).
command -v bwrap >/dev/null 2>&1 || need+=(bubblewrap)
command -v setpriv >/dev/null 2>&1 || need+=(util-linux)
# The dashboard's browser tests drive Debian's headless Chromium through its WebDriver (Selenium).
command -v chromium >/dev/null 2>&1 || need+=(chromium)
command -v chromedriver >/dev/null 2>&1 || need+=(chromium-driver)
if [ ${#need[@]} -gt 0 ]; then
  if [ "$(id -u)" = 0 ]; then
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq >/dev/null
    apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
  else
    echo "missing Debian packages: ${need[*]} (install them as root)" >&2
    exit 1
  fi
fi
