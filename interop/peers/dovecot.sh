# shellcheck shell=bash
# The Dovecot peer: a private Dovecot (`dovecot -c FILE`) on loopback with
# everything under $INTEROP_DIR/dovecot; the system's Dovecot (if any) is
# neither used nor touched. It serves two things: SASL for the Postfix peer
# (over the auth socket DC_AUTH_SOCKET, which postfix.sh names in
# smtpd_sasl_path, so Dovecot starts first) and LMTP on 127.0.0.1. No IMAP,
# no POP3. See interop/README.md for what it offers.

DC_DIR=$INTEROP_DIR/dovecot
DC_ETC=$DC_DIR/etc                # dovecot.conf, users (passwd-file), ports
DC_RUN=$DC_DIR/run                # base_dir: master.pid and the sockets
DC_STATE=$DC_DIR/state            # state_dir
DC_HOME=$DC_DIR/home              # users' homes; their index and control files
DC_LOG=$DC_DIR/dovecot.log        # log_path
DC_MAIL=$INTEROP_DIR/dovecot-mail # maildirs: $DC_MAIL/USER/{cur,new,tmp}
DC_AUTH_SOCKET=$DC_RUN/auth-postfix
DC_CONF=$DC_ETC/dovecot.conf
# The test users and their passwords (stored as {PLAIN}, so that CRAM-MD5
# and SCRAM work too); bob's is not ASCII (UTF-8 in the file).
DC_USERS=(alice bob)
DC_PASSWORDS=('Alice-pw-1' 'bøb-pässwörd')
DC_MECHANISMS='plain login cram-md5 scram-sha-1 scram-sha-256'
DC_LMTP_PORT_DEFAULT=${SMTPKIT_DOVECOT_LMTP_PORT:-10024}
DC_LMTP_PORT=

dovecot_packages() { printf '%s\n' dovecot-core dovecot-lmtpd openssl; }

# dovecot_master_pid prints the pid of this run directory's Dovecot master
# if it is running.
dovecot_master_pid() {
	local pid exe
	[ -f "$DC_RUN/master.pid" ] || return 1
	read -r pid <"$DC_RUN/master.pid" || return 1
	case $pid in
	'' | *[!0-9]*) return 1 ;;
	esac
	exe=$(readlink "/proc/$pid/exe" 2>/dev/null) || return 1
	[ "${exe##*/}" = dovecot ] || return 1
	echo "$pid"
}

dovecot_running() { dovecot_master_pid >/dev/null; }

# dovecot_port_recorded reads the LMTP port of the last configuration written.
dovecot_port_recorded() {
	DC_LMTP_PORT=''
	[ -f "$DC_ETC/ports" ] || return 1
	read -r DC_LMTP_PORT <"$DC_ETC/ports" || true
	[ -n "$DC_LMTP_PORT" ]
}

# dovecot_pick_port takes the default LMTP port (10024, or
# SMTPKIT_DOVECOT_LMTP_PORT) where nothing listens on it, else the next free
# one, never one of its arguments.
dovecot_pick_port() {
	case $DC_LMTP_PORT_DEFAULT in
	'' | *[!0-9]*)
		interop_log "dovecot: port '$DC_LMTP_PORT_DEFAULT' is not a number"
		return 1
		;;
	esac
	DC_LMTP_PORT=$(interop_free_port "$DC_LMTP_PORT_DEFAULT" "$@") || return 1
}

# dovecot_install_file NAME: interop_install_file for $DC_ETC/NAME, setting
# DC_CHANGED=1 when it changed something.
dovecot_install_file() {
	interop_install_file "$DC_ETC/$1" && DC_CHANGED=1
}

# dovecot_configure writes dovecot.conf and the users file for DC_LMTP_PORT
# and makes the directories Dovecot needs.
dovecot_configure() {
	local uid gid i u
	uid=$(id -u mail)
	gid=$(id -g mail)
	mkdir -p "$DC_ETC" "$DC_RUN" "$DC_STATE" "$DC_HOME" "$DC_MAIL"
	chmod 755 "$INTEROP_DIR" "$DC_DIR" "$DC_ETC" "$DC_MAIL"
	# Mail processes run as mail:mail (mail_uid); make the maildirs now so
	# that tests can watch new/ before the first delivery.
	for u in "${DC_USERS[@]}"; do
		mkdir -p "$DC_MAIL/$u"/{cur,new,tmp} "$DC_HOME/$u"
	done
	chown -R "$uid:$gid" "$DC_MAIL"/* "$DC_HOME"
	chmod 755 "$DC_HOME"

	cat >"$DC_ETC/dovecot.conf.new" <<EOF
# Written by interop/start; changes here are lost on the next start.
# Run as: dovecot -c $DC_CONF
base_dir = $DC_RUN
state_dir = $DC_STATE
log_path = $DC_LOG
instance_name = smtpkit-interop
hostname = localhost
protocols = lmtp
listen = 127.0.0.1

# LMTP on 127.0.0.1:$DC_LMTP_PORT, STARTTLS offered (not required) with the
# shared test certificate.
ssl = yes
ssl_cert = <$INTEROP_DIR/server.pem
ssl_key = <$INTEROP_DIR/server.key

# SASL for Postfix. Plaintext mechanisms are refused unless the client
# (Postfix) says the connection is secured, i.e. on TLS: Dovecot's default
# disable_plaintext_auth = yes is kept on purpose.
auth_mechanisms = $DC_MECHANISMS
# alice@example.org (or @anything) is alice.
auth_username_format = %n
auth_verbose = yes
# Tests fail to log in on purpose: answer failures soon, without the 2 s
# auth_failure_delay (the queue of failures still ticks every 0.5 s) and
# without the penalty for 127.0.0.1 that grows with each failure up to 15 s
# and outlasts Postfix's patience (anvil-auth-penalty below is not made, so
# the auth process keeps no penalty).
auth_failure_delay = 0
passdb {
  driver = passwd-file
  args = scheme=PLAIN $DC_ETC/users
}
userdb {
  driver = passwd-file
  args = $DC_ETC/users
  default_fields = home=$DC_HOME/%n
}

# Mail is stored as mail:mail in $DC_MAIL/USER (new/, cur/, tmp/ only; the
# index and control files are in the user's home).
mail_uid = $uid
mail_gid = $gid
first_valid_uid = $uid
last_valid_uid = $uid
first_valid_gid = $gid
last_valid_gid = $gid
mail_location = maildir:$DC_MAIL/%n:INDEX=$DC_HOME/%n/index:CONTROL=$DC_HOME/%n/control

service auth {
  unix_listener auth-postfix {
    mode = 0660
    user = postfix
    group = postfix
  }
}
service anvil {
  unix_listener anvil-auth-penalty {
    mode = 0
  }
}
service lmtp {
  inet_listener lmtp {
    address = 127.0.0.1
    port = $DC_LMTP_PORT
  }
  # LMTP over a Unix socket too, as a local delivery agent usually speaks it.
  unix_listener lmtp {
    mode = 0666
  }
}
EOF

	: >"$DC_ETC/users.new"
	for i in "${!DC_USERS[@]}"; do
		printf '%s:{PLAIN}%s::::::\n' "${DC_USERS[i]}" "${DC_PASSWORDS[i]}" >>"$DC_ETC/users.new"
	done
	echo "$DC_LMTP_PORT" >"$DC_ETC/ports.new"

	DC_CHANGED=0
	dovecot_install_file dovecot.conf || true
	dovecot_install_file users || true
	dovecot_install_file ports || true
	# The auth process (user dovecot) reads the users file.
	chown root:dovecot "$DC_ETC/users"
	chmod 640 "$DC_ETC/users"
}

dovecot_start() {
	if dovecot_running; then
		dovecot_port_recorded || {
			interop_log "dovecot: running, but $DC_ETC/ports is missing; run interop/stop first"
			return 1
		}
		dovecot_configure
		if [ "$DC_CHANGED" = 1 ] || [ "$INTEROP_CERTS_CHANGED" = 1 ]; then
			interop_log "dovecot: running already; configuration changed, reloading"
			dovecot -c "$DC_CONF" reload </dev/null 9>&-
		else
			interop_log "dovecot: running already (LMTP 127.0.0.1:$DC_LMTP_PORT)"
		fi
		return 0
	fi
	# A cold start begins with empty maildirs and indexes, a new log (the
	# last one is kept as dovecot.log.old) and no sockets left over from the
	# last run (Dovecot does not remove them all when it stops).
	rm -rf "$DC_RUN"
	local d
	for d in "$DC_MAIL" "$DC_HOME"; do
		if [ -d "$d" ]; then
			find "$d" -type f -delete
		fi
	done
	if [ -f "$DC_LOG" ]; then
		mv -f "$DC_LOG" "$DC_LOG.old"
	fi
	# A port can be taken between choosing it and binding it: on a bind
	# failure choose again, avoiding the ports that failed.
	local failed=()
	for _ in 1 2 3; do
		# Not Postfix's default ports either: Postfix starts after Dovecot
		# and would otherwise be moved off them whenever 10024 is taken.
		dovecot_pick_port "${failed[@]}" "${PF_PORT_DEFAULT:-}" "${PF_TLS_PORT_DEFAULT:-}" "${PF_LIMIT_PORT_DEFAULT:-}"
		dovecot_configure
		# Unlike Postfix's master, Dovecot's keeps the descriptors it
		# inherits: not the run directory's lock (fd 9, see interop_lock),
		# which it would hold for as long as it runs.
		if dovecot -c "$DC_CONF" </dev/null >"$DC_DIR/start.out" 2>&1 9>&-; then
			interop_log "dovecot: started (LMTP 127.0.0.1:$DC_LMTP_PORT)"
			return 0
		fi
		if grep -q 'Address already in use' "$DC_DIR/start.out"; then
			interop_log "dovecot: port $DC_LMTP_PORT was taken meanwhile; choosing again"
			failed+=("$DC_LMTP_PORT")
			continue
		fi
		break
	done
	cat "$DC_DIR/start.out" >&2
	interop_log "dovecot: 'dovecot -c $DC_CONF' failed"
	return 1
}

# dovecot_ready waits for the auth socket (which Postfix needs) and the
# LMTP greeting.
dovecot_ready() {
	dovecot_port_recorded || return 1
	interop_wait_for "dovecot auth socket $DC_AUTH_SOCKET" test -S "$DC_AUTH_SOCKET" &&
		interop_wait_for "dovecot LMTP on 127.0.0.1:$DC_LMTP_PORT" interop_greeting_plain "$DC_LMTP_PORT"
}

dovecot_env() {
	dovecot_port_recorded || return 1
	printf 'export %s=%q\n' \
		SMTPKIT_DOVECOT_LMTP_ADDR "127.0.0.1:$DC_LMTP_PORT" \
		SMTPKIT_DOVECOT_LMTP_SOCKET "$DC_RUN/lmtp" \
		SMTPKIT_DOVECOT_MAILDIR "$DC_MAIL" \
		SMTPKIT_DOVECOT_LOG "$DC_LOG" \
		SMTPKIT_AUTH_USER "${DC_USERS[0]}" \
		SMTPKIT_AUTH_PASSWORD "${DC_PASSWORDS[0]}" \
		SMTPKIT_AUTH_USER2 "${DC_USERS[1]}" \
		SMTPKIT_AUTH_PASSWORD2 "${DC_PASSWORDS[1]}"
}

dovecot_log() { interop_tail_log dovecot "$DC_LOG"; }

# dovecot_pids prints the ids of this instance's processes: the master
# (/usr/sbin/dovecot) and its children (/usr/lib/dovecot/*), which all run
# in a directory under $DC_DIR (the base directory, its empty/, a user's
# home), so that a shell someone left there is not taken for one of them.
dovecot_pids() {
	local pid exe
	for pid in $(interop_pids_under "$DC_DIR"); do
		exe=$(readlink "/proc/$pid/exe" 2>/dev/null) || continue
		case $exe in
		/usr/sbin/dovecot | /usr/lib/dovecot/*) echo "$pid" ;;
		esac
	done
}

dovecot_stop() {
	local pid
	if pid=$(dovecot_master_pid); then
		kill -TERM "$pid" 2>/dev/null || true
	fi
	# The master ends its children as it goes. Wait for every process of
	# this instance, then end any straggler by its id.
	local deadline=$((SECONDS + 10)) pids
	while pids=$(dovecot_pids) && [ -n "$pids" ]; do
		if [ "$SECONDS" -ge "$deadline" ]; then
			interop_log "dovecot: killing leftover processes: ${pids//$'\n'/ }"
			# shellcheck disable=SC2086
			kill -KILL $pids 2>/dev/null || true
			sleep 0.2
			break
		fi
		sleep 0.1
	done
	if pids=$(dovecot_pids) && [ -n "$pids" ]; then
		interop_log "dovecot: processes still running: ${pids//$'\n'/ }"
		return 1
	fi
}
