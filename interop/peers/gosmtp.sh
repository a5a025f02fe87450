# shellcheck shell=bash
# The go-smtp peer: the SMTP server of github.com/emersion/go-smtp v0.26,
# the one most Go mail software is built on, run by the small program in
# interop/gosmtp (a module of its own, so that the main module does not
# depend on go-smtp). It is built here with the Go toolchain that runs the
# tests, go-smtp coming through the module proxy (interop/gosmtp/go.sum is
# committed). One plain listener on 127.0.0.1 (no STARTTLS, no AUTH),
# go-smtp's default limits (lines of 2,000 octets), each accepted message
# stored as received. The server runs as nobody; it is started and stopped
# by its pid file. See interop/README.md for what it offers.

GS_DIR=$INTEROP_DIR/gosmtp          # the binary, port, gosmtp.pid
GS_LOG=$GS_DIR/gosmtp.log           # the server's log (stderr)
GS_PID=$GS_DIR/gosmtp.pid           # written once the server greets
GS_MAIL=$INTEROP_DIR/gosmtp-mail    # NNNNNN.eml (the message) and NNNNNN.json (its envelope)
GS_BIN=$GS_DIR/gosmtp-peer
GS_PORT_DEFAULT=${SMTPKIT_GOSMTP_PORT:-10029}
GS_PORT=

gosmtp_packages() { :; } # the Go toolchain that runs the tests builds it

# gosmtp_pid prints the pid in the pid file if that process runs this run
# directory's binary (a replaced binary shows as "... (deleted)").
gosmtp_pid() {
	local pid exe
	[ -f "$GS_PID" ] || return 1
	read -r pid <"$GS_PID" || return 1
	case $pid in
	'' | *[!0-9]*) return 1 ;;
	esac
	exe=$(readlink "/proc/$pid/exe" 2>/dev/null) || return 1
	case $exe in
	"$GS_BIN" | "$GS_BIN (deleted)") echo "$pid" ;;
	*) return 1 ;;
	esac
}

gosmtp_running() { gosmtp_pid >/dev/null; }

gosmtp_port_recorded() {
	GS_PORT=''
	[ -f "$GS_DIR/port" ] || return 1
	read -r GS_PORT <"$GS_DIR/port" || true
	[ -n "$GS_PORT" ]
}

# gosmtp_build builds the server into $GS_BIN; GS_CHANGED=1 when the
# binary changed.
gosmtp_build() {
	GS_CHANGED=0
	if ! command -v go >/dev/null 2>&1; then
		interop_log "gosmtp: no go command on PATH to build $INTEROP_HERE/gosmtp"
		return 1
	fi
	mkdir -p "$GS_DIR"
	chmod 755 "$INTEROP_DIR" "$GS_DIR"
	(cd "$INTEROP_HERE/gosmtp" && GOWORK=off GOFLAGS=-mod=readonly CGO_ENABLED=0 go build -o "$GS_BIN.new" .) || {
		interop_log "gosmtp: go build in $INTEROP_HERE/gosmtp failed"
		return 1
	}
	interop_install_file "$GS_BIN" && GS_CHANGED=1
	return 0
}

# gosmtp_launch runs the server on GS_PORT in the background, as nobody;
# it returns 0 once the port greets, 98 when the port was taken, or
# another failure.
gosmtp_launch() {
	local pid status
	mkdir -p "$GS_MAIL"
	chown "$(id -u nobody):$(id -g nobody)" "$GS_MAIL"
	rm -f "$GS_PID"
	echo "$GS_PORT" >"$GS_DIR/port"
	# Not the run directory's lock (fd 9, see interop_lock): the daemon
	# would hold it for as long as it runs.
	setpriv --reuid=nobody --regid=nogroup --clear-groups -- \
		"$GS_BIN" -addr "127.0.0.1:$GS_PORT" -store "$GS_MAIL" \
		</dev/null >>"$GS_LOG" 2>&1 9>&- &
	pid=$!
	for _ in $(seq 100); do
		if interop_greeting_plain "$GS_PORT"; then
			echo "$pid" >"$GS_PID"
			return 0
		fi
		if ! kill -0 "$pid" 2>/dev/null; then
			status=0
			wait "$pid" || status=$?
			return "$status"
		fi
		sleep 0.1
	done
	interop_log "gosmtp: not greeting on 127.0.0.1:$GS_PORT after 10 s"
	kill -TERM "$pid" 2>/dev/null || true
	return 1
}

gosmtp_start() {
	gosmtp_build
	if gosmtp_running; then
		gosmtp_port_recorded || {
			interop_log "gosmtp: running, but $GS_DIR/port is missing; run interop/stop first"
			return 1
		}
		if [ "$GS_CHANGED" = 0 ]; then
			interop_log "gosmtp: running already (127.0.0.1:$GS_PORT)"
			return 0
		fi
		interop_log "gosmtp: running already; binary changed, restarting"
		gosmtp_stop
		gosmtp_launch
		interop_log "gosmtp: restarted (127.0.0.1:$GS_PORT)"
		return 0
	fi
	# A cold start begins with an empty store and a new log.
	if [ -d "$GS_MAIL" ]; then
		find "$GS_MAIL" -type f -delete
	fi
	if [ -f "$GS_LOG" ]; then
		mv -f "$GS_LOG" "$GS_LOG.old"
	fi
	local failed=() status
	for _ in 1 2 3; do
		# Not the other peers' default ports either, running or not.
		GS_PORT=$(interop_free_port "$GS_PORT_DEFAULT" "${failed[@]}" "${PF_PORT_DEFAULT:-}" "${PF_TLS_PORT_DEFAULT:-}" \
			"${PF_LIMIT_PORT_DEFAULT:-}" "${DC_LMTP_PORT_DEFAULT:-}" "${AS_PORT_DEFAULT:-}") || return 1
		status=0
		gosmtp_launch || status=$?
		if [ "$status" = 0 ]; then
			interop_log "gosmtp: started (127.0.0.1:$GS_PORT)"
			return 0
		fi
		if [ "$status" = 98 ]; then
			interop_log "gosmtp: port $GS_PORT was taken meanwhile; choosing again"
			failed+=("$GS_PORT")
			continue
		fi
		break
	done
	interop_log "gosmtp: $GS_BIN failed (status $status)"
	return 1
}

gosmtp_ready() {
	gosmtp_port_recorded || return 1
	interop_wait_for "gosmtp on 127.0.0.1:$GS_PORT" interop_greeting_plain "$GS_PORT"
}

gosmtp_env() {
	gosmtp_port_recorded || return 1
	printf 'export %s=%q\n' \
		SMTPKIT_GOSMTP_ADDR "127.0.0.1:$GS_PORT" \
		SMTPKIT_GOSMTP_MAILDIR "$GS_MAIL" \
		SMTPKIT_GOSMTP_LOG "$GS_LOG"
}

gosmtp_log() { interop_tail_log gosmtp "$GS_LOG"; }

# gosmtp_stop ends the process named by the pid file (and only it):
# SIGTERM, then SIGKILL after 10 s.
gosmtp_stop() {
	local pid deadline
	pid=$(gosmtp_pid) || {
		rm -f "$GS_PID"
		return 0
	}
	kill -TERM "$pid" 2>/dev/null || true
	deadline=$((SECONDS + 10))
	while gosmtp_running; do
		if [ "$SECONDS" -ge "$deadline" ]; then
			interop_log "gosmtp: killing $pid"
			kill -KILL "$pid" 2>/dev/null || true
			sleep 0.2
			break
		fi
		sleep 0.1
	done
	if gosmtp_running; then
		interop_log "gosmtp: process $pid still running"
		return 1
	fi
	rm -f "$GS_PID"
}
