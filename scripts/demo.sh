#!/usr/bin/env bash
# The demo: three real lab hosts, the demo config tree, a deploy, a broken
# change on one host that is rolled back there only, and the pending diff.
# Root only; `just demo` installs what it needs first.
set -euo pipefail
top=$(cd "$(dirname "$0")/.." && pwd)
work=$(mktemp -d /tmp/deptool-demo.XXXXXX)
lab() { "$top/bin/deptool-lab" "$@"; }
trap 'lab down --state "$work/lab" >/dev/null 2>&1 || true; rm -rf "$work"' EXIT
step() { printf '\n\033[1m== %s\033[0m\n' "$*"; }
show() { printf '$ %s\n' "$*"; "$@"; }

cd "$top" && go build -o bin/deptool ./cmd/deptool && go build -o bin/deptool-lab ./cmd/deptool-lab
step "Booting three hosts (systemd, sshd, own network namespace each)"
lab up --state "$work/lab" web1 web2 db1
export DEPTOOL_SSH_CONFIG=$work/lab/ssh_config DEPTOOL_STORE=$work/.deptool PATH=$top/bin:$PATH
cd "$work"
deptool init prod >/dev/null
cp -r "$top/config-examples/demo/." prod/

step "Deploying the demo"
show deptool deploy --yes
serve() { for h in web1 web2; do printf '%s: ' "$h"; lab exec --state "$work/lab" "$h" -- curl -s http://127.0.0.1:8080/; done; }
step "Both web hosts serve version 1"
serve

step "Version 2 everywhere, but web2's nginx.conf has a syntax error"
for h in web1 web2; do sed -i 's/version 1/version 2/' "prod/$h/nginx/www/index.html"; done
sed -i 's/worker_connections 64;/worker_connections 64/' prod/web2/nginx/nginx.conf
show deptool deploy --yes || echo "(deploy exited $?: web2 was rolled back)"

step "web1 serves version 2; web2 was rolled back and still serves version 1"
serve

step "Only web2 is pending"
show deptool diff --stat
show deptool status
