#!/usr/bin/env bash
# A Redis 6 server for running the test suite against, from Debian 11 (bullseye)'s own packages
# (Redis 6.0.16), on a Debian 12 machine whose redis-server is 7.0: nothing is installed. apt-get
# downloads the packages with a sources list and state of its own (under DIR), dpkg-deb unpacks
# them in DIR, and DIR/bin/redis-server runs Redis 6 with the libraries it brought (libssl1.1,
# Lua 5.1 with cjson and bitop). Prints DIR/bin, to put first in PATH: then every redis-server the
# tests start (test/support/redis-server.ts) is Redis 6.
#
#   bin=$(bash test/support/redis6.sh)            # DIR defaults to .tmp/redis6
#   "$bin/redis-server" --port 6406 --save "" --appendonly no --daemonize yes
#   PATH="$bin:$PATH" REDIS_URL=redis://127.0.0.1:6406 npx vitest run test/storage/redis/storage.test.ts
#   "$bin/redis-cli" -p 6406 shutdown nosave
#
# Needs Debian's mirror (deb.debian.org), and bullseye's signing keys, which Debian 12's
# debian-archive-keyring holds. No change to the system's apt configuration or packages. Run again, it reuses what it downloaded.
set -euo pipefail

root_dir=$(cd "$(dirname "$0")/../.." && pwd)
dir=${1:-$root_dir/.tmp/redis6}
mkdir -p "$dir/apt/lists/partial" "$dir/apt/cache/archives/partial" "$dir/debs" "$dir/root" "$dir/bin"
cat >"$dir/apt/sources.list" <<'LIST'
deb http://deb.debian.org/debian bullseye main
deb http://deb.debian.org/debian-security bullseye-security main
LIST
apt_options=(
  -o "Dir::Etc::SourceList=$dir/apt/sources.list"
  -o "Dir::Etc::SourceParts=/dev/null"
  -o "Dir::State::Lists=$dir/apt/lists"
  -o "Dir::Cache=$dir/apt/cache"
  # What this machine has installed (Redis 7) must not decide the versions: bullseye's newest.
  -o "Dir::State::status=/dev/null"
  -o "APT::Sandbox::User=root"
)
server="$dir/root/usr/bin/redis-check-rdb"
if [[ ! -x $server ]]; then
  apt-get "${apt_options[@]}" -qq update >&2
  # redis-tools holds the server's binary (redis-server is a link to redis-check-rdb); the others
  # are the libraries Debian 12 does not have in these versions.
  (cd "$dir/debs" && apt-get "${apt_options[@]}" -qq download \
    redis-tools libssl1.1 liblua5.1-0 lua-cjson lua-bitop liblzf1 >&2)
  for deb in "$dir"/debs/*.deb; do dpkg-deb -x "$deb" "$dir/root"; done
fi
lib="$dir/root/usr/lib/x86_64-linux-gnu"
for name in redis-server redis-cli; do
  target=redis-check-rdb
  [[ $name == redis-cli ]] && target=redis-cli
  cat >"$dir/bin/$name" <<SCRIPT
#!/bin/bash
# Redis 6 from Debian 11's packages, unpacked by test/support/redis6.sh.
LD_LIBRARY_PATH="$lib\${LD_LIBRARY_PATH:+:\$LD_LIBRARY_PATH}" LUA_CPATH="$lib/lua/5.1/?.so" exec -a $name "$dir/root/usr/bin/$target" "\$@"
SCRIPT
  chmod +x "$dir/bin/$name"
done
version=$("$dir/bin/redis-server" --version)
[[ $version == *"v=6."* ]] || { echo "not Redis 6: $version" >&2; exit 1; }
echo "$dir/bin"
