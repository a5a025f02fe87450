# shellcheck shell=bash
# Shared by interop/start, interop/stop and interop/run; sourced, not run.
#
# A peer is a real server the interop tests talk to. Each one lives in
# interop/peers/NAME.sh and defines these functions (NAME is the peer's name):
#
#   NAME_packages   print the Debian packages it needs, one a line
#   NAME_running    exit 0 if this run directory's instance is running
#   NAME_start      write its configuration under $INTEROP_DIR and start it;
#                   when it is running already, bring its configuration up to
#                   date (reloading it if that changed anything) instead
#   NAME_ready      wait until it answers; non-zero on timeout
#   NAME_env        print its `export VAR=value` lines for $INTEROP_DIR/env
#   NAME_log        print the end of its log (called when something failed)
#   NAME_stop       stop what NAME_start started; idempotent
#
# Peers are started in the order of INTEROP_PEERS and stopped in reverse.
# The TLS files that every peer shares are made by interop_certs below.

# dovecot before postfix: Postfix's SASL (smtpd_sasl_path) is Dovecot's auth
# socket. aiosmtpd uses Dovecot's test users (DC_USERS, DC_PASSWORDS). gosmtp is
# built with the Go toolchain (interop/gosmtp, a module of its own).
INTEROP_PEERS=(dovecot postfix aiosmtpd gosmtp)

INTEROP_HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
INTEROP_DIR=${SMTPKIT_INTEROP_DIR:-/tmp/smtpkit-interop}
INTEROP_READY_TIMEOUT=${SMTPKIT_INTEROP_READY_TIMEOUT:-30}

case $INTEROP_DIR in
/*) ;;
*)
	echo "interop: SMTPKIT_INTEROP_DIR must be an absolute path, not '$INTEROP_DIR'" >&2
	exit 2
	;;
esac
INTEROP_DIR=${INTEROP_DIR%/}
if [ -z "$INTEROP_DIR" ] || [ "$INTEROP_DIR" = /tmp ]; then
	echo "interop: refusing to use '$INTEROP_DIR' itself as the run directory" >&2
	exit 2
fi

for peer in "${INTEROP_PEERS[@]}"; do
	# shellcheck source=/dev/null
	. "$INTEROP_HERE/peers/$peer.sh"
done
unset peer

interop_log() { echo "interop: $*" >&2; }

# interop_tail_log PEER FILE prints the end of a peer's log file, for a
# failure's report (each peer's NAME_log calls it).
interop_tail_log() {
	if [ -f "$2" ]; then
		echo "---- last 100 lines of $2" >&2
		tail -n 100 "$2" >&2
		echo "----" >&2
	else
		interop_log "$1: no log at $2"
	fi
}

# interop_now prints the time in seconds with microseconds.
interop_now() { echo "${EPOCHREALTIME:-$(date +%s.%N)}"; }

# interop_since START prints the seconds elapsed since START, e.g. 1.234.
interop_since() { awk -v a="$1" -v b="$(interop_now)" 'BEGIN { printf "%.3f", b - a }'; }

# interop_lock takes an exclusive lock on the run directory for the rest of
# the calling process, so that two starts (or a start and a stop) of the same
# directory do not interleave.
interop_lock() {
	mkdir -p "$INTEROP_DIR"
	exec 9>"$INTEROP_DIR/.lock"
	if ! flock -w 120 9; then
		interop_log "could not lock $INTEROP_DIR/.lock in 120 s"
		exit 1
	fi
}

# interop_port_in_use PORT: exit 0 if something listens on 127.0.0.1:PORT.
interop_port_in_use() {
	local port=$1
	if command -v ss >/dev/null 2>&1; then
		# Any listener on the port that would stop a bind to 127.0.0.1.
		ss -Hltn "sport = :$port" 2>/dev/null | grep -q . && return 0
		return 1
	fi
	(exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null
}

# interop_install_file PATH: move PATH.new over PATH unless they are the
# same; return 0 when it changed something, so the peer knows to reload.
# The file is dated two seconds back: Postfix reads a file changed within
# the current second again and again (300 ms apart) until that second is
# over, in case it is still being written, which cost every fresh start
# 1.5 s.
interop_install_file() {
	if [ -f "$1" ] && cmp -s "$1.new" "$1"; then
		rm -f "$1.new"
		return 1
	fi
	touch -d "@$(($(date +%s) - 2))" "$1.new"
	mv -f "$1.new" "$1"
}

# interop_free_port FIRST [EXCLUDED...]: print the first port from FIRST on
# that nothing listens on and that is not one of EXCLUDED.
interop_free_port() {
	local port=$1 ex taken
	shift
	while [ "$port" -lt 65535 ]; do
		taken=
		for ex in "$@"; do
			[ "$ex" = "$port" ] && taken=1
		done
		if [ -z "$taken" ] && ! interop_port_in_use "$port"; then
			echo "$port"
			return 0
		fi
		port=$((port + 1))
	done
	interop_log "no free port from $1 on"
	return 1
}

# interop_greeting_plain PORT: exit 0 if 127.0.0.1:PORT sends a 220 greeting.
interop_greeting_plain() (
	port=$1
	exec 3<>"/dev/tcp/127.0.0.1/$port" || exit 1
	IFS= read -r -t 5 line <&3 || exit 1
	printf 'QUIT\r\n' >&3 || true
	case $line in
	220[\ -]*) exit 0 ;;
	*) exit 1 ;;
	esac
) 2>/dev/null

# interop_greeting_tls PORT CAFILE: exit 0 if 127.0.0.1:PORT does a TLS
# handshake whose certificate verifies for localhost against CAFILE, then
# sends a 220 greeting.
interop_greeting_tls() {
	local port=$1 ca=$2 out
	out=$(printf 'QUIT\r\n' | timeout 10 openssl s_client -quiet -connect "127.0.0.1:$port" \
		-servername localhost -verify_hostname localhost -CAfile "$ca" -verify_return_error 2>/dev/null) || return 1
	case $out in
	220[\ -]*) return 0 ;;
	*) return 1 ;;
	esac
}

# interop_wait_for DESCRIPTION COMMAND...: run COMMAND until it succeeds or
# INTEROP_READY_TIMEOUT seconds have passed since the call.
interop_wait_for() {
	local what=$1 deadline
	shift
	deadline=$((SECONDS + INTEROP_READY_TIMEOUT))
	until "$@"; do
		if [ "$SECONDS" -ge "$deadline" ]; then
			interop_log "$what: not ready after $INTEROP_READY_TIMEOUT s"
			return 1
		fi
		sleep 0.2
	done
}

# interop_pids_under DIR [EXEDIR]: print the ids of processes whose working
# directory is DIR or below it (Postfix's daemons all run in their queue
# directory) and, if EXEDIR is given, whose program lies in EXEDIR, so that a
# shell someone left in DIR is not taken for a daemon.
interop_pids_under() {
	local dir=$1 exedir=${2:-} p cwd exe
	for p in /proc/[0-9]*; do
		cwd=$(readlink "$p/cwd" 2>/dev/null) || continue
		case $cwd in
		"$dir" | "$dir"/*) ;;
		*) continue ;;
		esac
		if [ -n "$exedir" ]; then
			exe=$(readlink "$p/exe" 2>/dev/null) || continue
			case $exe in
			"$exedir"/*) ;;
			*) continue ;;
			esac
		fi
		echo "${p#/proc/}"
	done
}

# interop_certs makes, unless valid ones are there already:
#   ca.pem, ca.key                 the test CA
#   server.pem, server.key         a server certificate from it for localhost
#                                  (SAN DNS:localhost, IP:127.0.0.1)
#   wrong-ca.pem, wrong-ca.key     an unrelated CA that signed nothing here
# all ECDSA P-256. It sets INTEROP_CERTS_CHANGED=1 if it made new ones.
INTEROP_CERTS_CHANGED=0
interop_certs() {
	local d=$INTEROP_DIR f ok=1
	for f in ca.pem ca.key server.pem server.key wrong-ca.pem wrong-ca.key; do
		[ -s "$d/$f" ] || ok=
	done
	if [ -n "$ok" ] &&
		openssl verify -CAfile "$d/ca.pem" -purpose sslserver -verify_hostname localhost \
			-verify_ip 127.0.0.1 "$d/server.pem" >/dev/null 2>&1 &&
		openssl x509 -in "$d/server.pem" -noout -checkend 86400 >/dev/null &&
		openssl x509 -in "$d/ca.pem" -noout -checkend 86400 >/dev/null &&
		openssl x509 -in "$d/wrong-ca.pem" -noout -checkend 86400 >/dev/null &&
		! openssl verify -CAfile "$d/wrong-ca.pem" "$d/server.pem" >/dev/null 2>&1; then
		return 0
	fi
	local t
	t=$(mktemp -d "$d/.tls.XXXXXX")
	cat >"$t/openssl.cnf" <<'CNF'
[req]
distinguished_name = dn
prompt = no
[dn]
CN = unused
[ca_ext]
basicConstraints = critical, CA:TRUE
keyUsage = critical, keyCertSign, cRLSign
subjectKeyIdentifier = hash
[server_ext]
basicConstraints = critical, CA:FALSE
keyUsage = critical, digitalSignature
extendedKeyUsage = serverAuth
subjectAltName = DNS:localhost, IP:127.0.0.1
subjectKeyIdentifier = hash
authorityKeyIdentifier = keyid:always
CNF
	local ec=(-newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes)
	(
		set -e
		umask 077
		cd "$t"
		openssl req -config openssl.cnf -x509 -new "${ec[@]}" -keyout ca.key -out ca.pem \
			-days 3650 -subj "/O=smtpkit interop/CN=smtpkit interop test CA" -extensions ca_ext
		openssl req -config openssl.cnf -x509 -new "${ec[@]}" -keyout wrong-ca.key -out wrong-ca.pem \
			-days 3650 -subj "/O=smtpkit interop/CN=smtpkit interop WRONG CA" -extensions ca_ext
		openssl req -config openssl.cnf -new "${ec[@]}" -keyout server.key -out server.csr \
			-subj "/O=smtpkit interop/CN=localhost"
		openssl x509 -req -in server.csr -CA ca.pem -CAkey ca.key -CAcreateserial -CAserial ca.srl \
			-days 825 -extfile openssl.cnf -extensions server_ext -out server.pem
		chmod 644 ca.pem wrong-ca.pem server.pem
	) >"$t/openssl.log" 2>&1 || {
		cat "$t/openssl.log" >&2
		interop_log "making the test certificates failed"
		return 1
	}
	for f in ca.pem ca.key server.pem server.key wrong-ca.pem wrong-ca.key; do
		mv -f "$t/$f" "$d/$f"
	done
	rm -rf "$t"
	# shellcheck disable=SC2034 # read by the peers
	INTEROP_CERTS_CHANGED=1
}
