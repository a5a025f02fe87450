# shellcheck shell=bash
# The aiosmtpd peer: a third SMTP implementation, Python's aiosmtpd
# (Debian's python3-aiosmtpd), run by the small server in
# aiosmtpd_server.py under Debian's /usr/bin/python3 (the python3 first on
# PATH may be another installation without the package). One listener on
# 127.0.0.1 with STARTTLS (the shared certificate), AUTH PLAIN LOGIN on TLS
# only for the Dovecot peer's users, and each accepted message stored as
# received. Everything is under $INTEROP_DIR/aiosmtpd; it is started and
# stopped by its pid file. See interop/README.md for what it offers.

AS_DIR=$INTEROP_DIR/aiosmtpd          # server.py, users, port, config, aiosmtpd.pid
AS_LOG=$AS_DIR/aiosmtpd.log           # the server's log (stderr)
AS_PID=$AS_DIR/aiosmtpd.pid           # written by the server once it listens
AS_MAIL=$INTEROP_DIR/aiosmtpd-mail    # NNNNNN.eml (the message) and NNNNNN.json (its envelope)
AS_PYTHON=/usr/bin/python3
AS_DOMAIN=example.org
AS_SIZE_LIMIT=10485760
AS_PORT_DEFAULT=${SMTPKIT_AIOSMTPD_PORT:-10027}
AS_PORT=

aiosmtpd_packages() { printf '%s\n' python3-aiosmtpd openssl; }

# aiosmtpd_pid prints the pid in the pid file if that process is this run
# directory's server (its command line names $AS_DIR/server.py), so that a
# stale pid file never names someone else's process.
aiosmtpd_pid() {
	local pid script
	[ -f "$AS_PID" ] || return 1
	read -r pid <"$AS_PID" || return 1
	case $pid in
	'' | *[!0-9]*) return 1 ;;
	esac
	script=$(tr '\0' '\n' <"/proc/$pid/cmdline" 2>/dev/null | sed -n 2p) || return 1
	[ "$script" = "$AS_DIR/server.py" ] || return 1
	echo "$pid"
}

aiosmtpd_running() { aiosmtpd_pid >/dev/null; }

# aiosmtpd_port_recorded reads the port of the last configuration written.
aiosmtpd_port_recorded() {
	AS_PORT=''
	[ -f "$AS_DIR/port" ] || return 1
	read -r AS_PORT <"$AS_DIR/port" || true
	[ -n "$AS_PORT" ]
}

# aiosmtpd_pick_port takes the default port (10027, or
# SMTPKIT_AIOSMTPD_PORT) where nothing listens on it, else the next free
# one, never one of its arguments.
aiosmtpd_pick_port() {
	case $AS_PORT_DEFAULT in
	'' | *[!0-9]*)
		interop_log "aiosmtpd: port '$AS_PORT_DEFAULT' is not a number"
		return 1
		;;
	esac
	AS_PORT=$(interop_free_port "$AS_PORT_DEFAULT" "$@") || return 1
}

# aiosmtpd_install_file NAME: interop_install_file for $AS_DIR/NAME, setting
# AS_CHANGED=1 when it changed something.
aiosmtpd_install_file() {
	interop_install_file "$AS_DIR/$1" && AS_CHANGED=1
}

# aiosmtpd_configure writes the server (a copy, so that the instance does
# not depend on the source tree), the users file and the port, and makes
# the store directory. The users and passwords are the Dovecot peer's
# (DC_USERS, DC_PASSWORDS in dovecot.sh).
aiosmtpd_configure() {
	local i uid gid
	uid=$(id -u nobody)
	gid=$(id -g nobody)
	if [ "${#DC_USERS[@]}" -eq 0 ] || [ "${#DC_USERS[@]}" != "${#DC_PASSWORDS[@]}" ]; then
		interop_log "aiosmtpd: no test users (DC_USERS, DC_PASSWORDS from peers/dovecot.sh)"
		return 1
	fi
	mkdir -p "$AS_DIR" "$AS_MAIL/tmp"
	chmod 755 "$INTEROP_DIR" "$AS_DIR"
	# The server runs as nobody:nogroup once it has bound its port and read
	# its key and users; it writes only here.
	chown "$uid:$gid" "$AS_MAIL" "$AS_MAIL/tmp"
	chmod 755 "$AS_MAIL"

	cp "$INTEROP_HERE/peers/aiosmtpd_server.py" "$AS_DIR/server.py.new"
	(
		umask 077
		: >"$AS_DIR/users.new"
		for i in "${!DC_USERS[@]}"; do
			printf '%s:%s\n' "${DC_USERS[i]}" "${DC_PASSWORDS[i]}" >>"$AS_DIR/users.new"
		done
	)
	echo "$AS_PORT" >"$AS_DIR/port.new"

	AS_CHANGED=0
	aiosmtpd_install_file server.py || true
	aiosmtpd_install_file users || true
	aiosmtpd_install_file port || true
}

# aiosmtpd_launch runs the server for AS_PORT; it returns once the server
# listens (0), or with 98 when the port is taken, or another failure.
aiosmtpd_launch() {
	# Not the run directory's lock (fd 9, see interop_lock): the daemon
	# would hold it for as long as it runs.
	"$AS_PYTHON" "$AS_DIR/server.py" --dir "$AS_DIR" --host 127.0.0.1 --port "$AS_PORT" \
		--cert "$INTEROP_DIR/server.pem" --key "$INTEROP_DIR/server.key" \
		--users "$AS_DIR/users" --store "$AS_MAIL" --domain "$AS_DOMAIN" \
		--size-limit "$AS_SIZE_LIMIT" --pidfile "$AS_PID" --run-as nobody \
		</dev/null >>"$AS_LOG" 2>&1 9>&-
}

aiosmtpd_start() {
	if [ ! -x "$AS_PYTHON" ] || ! "$AS_PYTHON" -c 'import aiosmtpd' 2>/dev/null; then
		interop_log "aiosmtpd: $AS_PYTHON cannot import aiosmtpd (package python3-aiosmtpd)"
		return 1
	fi
	if aiosmtpd_running; then
		aiosmtpd_port_recorded || {
			interop_log "aiosmtpd: running, but $AS_DIR/port is missing; run interop/stop first"
			return 1
		}
		aiosmtpd_configure
		if [ "$AS_CHANGED" = 0 ] && [ "$INTEROP_CERTS_CHANGED" = 0 ]; then
			interop_log "aiosmtpd: running already (127.0.0.1:$AS_PORT)"
			return 0
		fi
		# It has no reload: restart it on the same port, keeping the
		# stored messages.
		interop_log "aiosmtpd: running already; configuration changed, restarting"
		aiosmtpd_stop
		aiosmtpd_launch
		interop_log "aiosmtpd: restarted (127.0.0.1:$AS_PORT)"
		return 0
	fi
	# A cold start begins with an empty store and a new log (the last one
	# is kept as aiosmtpd.log.old).
	if [ -d "$AS_MAIL" ]; then
		find "$AS_MAIL" -type f -delete
	fi
	if [ -f "$AS_LOG" ]; then
		mv -f "$AS_LOG" "$AS_LOG.old"
	fi
	rm -f "$AS_PID"
	# A port can be taken between choosing it and binding it: on a bind
	# failure (status 98) choose again, avoiding the ports that failed.
	local failed=() status
	for _ in 1 2 3; do
		# Not the other peers' default ports either, running or not.
		aiosmtpd_pick_port "${failed[@]}" "${PF_PORT_DEFAULT:-}" "${PF_TLS_PORT_DEFAULT:-}" "${PF_LIMIT_PORT_DEFAULT:-}" "${DC_LMTP_PORT_DEFAULT:-}"
		aiosmtpd_configure
		status=0
		aiosmtpd_launch || status=$?
		if [ "$status" = 0 ]; then
			interop_log "aiosmtpd: started (127.0.0.1:$AS_PORT)"
			return 0
		fi
		if [ "$status" = 98 ]; then
			interop_log "aiosmtpd: port $AS_PORT was taken meanwhile; choosing again"
			failed+=("$AS_PORT")
			continue
		fi
		break
	done
	interop_log "aiosmtpd: $AS_PYTHON $AS_DIR/server.py failed (status $status)"
	return 1
}

aiosmtpd_ready() {
	aiosmtpd_port_recorded || return 1
	interop_wait_for "aiosmtpd on 127.0.0.1:$AS_PORT" interop_greeting_plain "$AS_PORT"
}

aiosmtpd_env() {
	aiosmtpd_port_recorded || return 1
	printf 'export %s=%q\n' \
		SMTPKIT_AIOSMTPD_ADDR "127.0.0.1:$AS_PORT" \
		SMTPKIT_AIOSMTPD_CA "$INTEROP_DIR/ca.pem" \
		SMTPKIT_AIOSMTPD_MAILDIR "$AS_MAIL" \
		SMTPKIT_AIOSMTPD_LOG "$AS_LOG"
}

aiosmtpd_log() { interop_tail_log aiosmtpd "$AS_LOG"; }

# aiosmtpd_stop ends the process named by the pid file (and only it):
# SIGTERM, then SIGKILL after 10 s.
aiosmtpd_stop() {
	local pid deadline
	pid=$(aiosmtpd_pid) || {
		rm -f "$AS_PID"
		return 0
	}
	kill -TERM "$pid" 2>/dev/null || true
	deadline=$((SECONDS + 10))
	while [ -e "/proc/$pid" ] && aiosmtpd_running; do
		if [ "$SECONDS" -ge "$deadline" ]; then
			interop_log "aiosmtpd: killing $pid"
			kill -KILL "$pid" 2>/dev/null || true
			sleep 0.2
			break
		fi
		sleep 0.1
	done
	if aiosmtpd_running; then
		interop_log "aiosmtpd: process $pid still running"
		return 1
	fi
	rm -f "$AS_PID"
}
