# shellcheck shell=bash
# The Postfix peer: a private Postfix instance on loopback, run from its own
# configuration directory under $INTEROP_DIR; the system's Postfix (if any)
# is neither used nor touched. See interop/README.md for what it offers.

# Three separate trees: "postfix check" wants everything under the
# configuration directory owned by root, the data directory owned by postfix.
PF_ETC=$INTEROP_DIR/postfix/etc      # config_directory: main.cf, master.cf, vmailbox(.db), ports
PF_QUEUE=$INTEROP_DIR/postfix/queue  # queue_directory; every daemon's cwd
PF_DATA=$INTEROP_DIR/postfix/data    # data_directory
PF_LOG=$INTEROP_DIR/postfix.log      # maillog_file
PF_MAIL=$INTEROP_DIR/mail            # virtual_mailbox_base
PF_DOMAIN=example.org
PF_USERS=(alice bob)
PF_PORT_DEFAULT=${SMTPKIT_POSTFIX_PORT:-10025}
PF_TLS_PORT_DEFAULT=${SMTPKIT_POSTFIX_TLS_PORT:-10465}
PF_PORT=
PF_TLS_PORT=
# The rate-limited listener: a third smtpd on its own port (the others have
# no limits). Once a client address has made PF_LIMIT_MESSAGES delivery
# requests (MAIL commands, accepted or not) there within anvil's time unit,
# PF_LIMIT_TIME_UNIT, every further MAIL until that unit is over gets
# "450 4.7.1 Error: too much mail from 127.0.0.1" (anvil's message rate
# limit answers 450 and keeps the session), and since that service's hard
# error limit is 1, Postfix follows it at once with "421 4.7.0 localhost
# Error: too many errors" and hangs up. Its mail for PF_LIMIT_USER@$PF_DOMAIN
# lands in a maildir of its own. Loopback is not exempt there:
# smtpd_client_event_limit_exceptions is empty for that service only.
PF_LIMIT_PORT_DEFAULT=${SMTPKIT_POSTFIX_LIMIT_PORT:-10026}
PF_LIMIT_PORT=
PF_LIMIT_MESSAGES=1000
PF_LIMIT_TIME_UNIT=60s
PF_LIMIT_USER=limit

postfix_packages() { printf '%s\n' postfix openssl; }

postfix_running() {
	[ -f "$PF_ETC/main.cf" ] && command -v postfix >/dev/null 2>&1 &&
		postfix -c "$PF_ETC" status >/dev/null 2>&1
}

# postfix_ports_recorded reads the ports of the last configuration written;
# it fails if any is missing (a file of an older version has no limit port).
postfix_ports_recorded() {
	PF_PORT='' PF_TLS_PORT='' PF_LIMIT_PORT=''
	[ -f "$PF_ETC/ports" ] || return 1
	read -r PF_PORT PF_TLS_PORT PF_LIMIT_PORT <"$PF_ETC/ports" || true
	[ -n "$PF_PORT" ] && [ -n "$PF_TLS_PORT" ] && [ -n "$PF_LIMIT_PORT" ]
}

postfix_check_port_defaults() {
	local p
	for p in "$PF_PORT_DEFAULT" "$PF_TLS_PORT_DEFAULT" "$PF_LIMIT_PORT_DEFAULT"; do
		case $p in
		'' | *[!0-9]*)
			interop_log "postfix: port '$p' is not a number"
			return 1
			;;
		esac
	done
}

# postfix_pick_ports takes the default ports (10025, 10465, 10026, or
# SMTPKIT_POSTFIX_PORT, SMTPKIT_POSTFIX_TLS_PORT, SMTPKIT_POSTFIX_LIMIT_PORT)
# where nothing listens on them, else the next free ones, never one of its
# arguments.
postfix_pick_ports() {
	postfix_check_port_defaults || return 1
	PF_PORT=$(interop_free_port "$PF_PORT_DEFAULT" "$@") || return 1
	PF_TLS_PORT=$(interop_free_port "$PF_TLS_PORT_DEFAULT" "$PF_PORT" "$@") || return 1
	PF_LIMIT_PORT=$(interop_free_port "$PF_LIMIT_PORT_DEFAULT" "$PF_PORT" "$PF_TLS_PORT" "$@") || return 1
}

# postfix_install_file NAME: interop_install_file for $PF_ETC/NAME, setting
# PF_CHANGED=1 when it changed something.
postfix_install_file() {
	interop_install_file "$PF_ETC/$1" && PF_CHANGED=1
}

# postfix_configure writes main.cf, master.cf and the mailbox map for
# PF_PORT and PF_TLS_PORT, and makes the directories Postfix needs.
postfix_configure() {
	local uid gid u
	uid=$(id -u nobody)
	gid=$(id -g nobody)
	mkdir -p "$PF_ETC" "$PF_QUEUE" "$PF_DATA"
	# Daemons and the delivery agent (as nobody) must get through these.
	chmod 755 "$INTEROP_DIR" "$INTEROP_DIR/postfix" "$PF_ETC"
	# data_directory belongs to the mail owner; queue_directory to root
	# (Postfix makes and owns the queue's subdirectories itself).
	chown postfix "$PF_DATA"
	chown root "$PF_QUEUE"
	# Maildirs: virtual(8) delivers as nobody:nogroup; make them now so that
	# tests can watch new/ before the first delivery.
	mkdir -p "$PF_MAIL/$PF_DOMAIN"
	for u in "${PF_USERS[@]}" "$PF_LIMIT_USER"; do
		mkdir -p "$PF_MAIL/$PF_DOMAIN/$u"/{cur,new,tmp}
	done
	chown -R "$uid:$gid" "$PF_MAIL"
	chmod 755 "$PF_MAIL" "$PF_MAIL/$PF_DOMAIN"

	cat >"$PF_ETC/main.cf.new" <<EOF
# Written by interop/start; changes here are lost on the next start.
compatibility_level = 3.6
# config_directory comes from "postfix -c".
queue_directory = $PF_QUEUE
data_directory = $PF_DATA
maillog_file = $PF_LOG
maillog_file_prefixes = /var, /dev/stdout, $INTEROP_DIR
mail_owner = postfix
setgid_group = postdrop

myhostname = localhost
mydomain = localdomain
myorigin = \$myhostname
mydestination =
inet_interfaces = loopback-only
inet_protocols = ipv4
mynetworks = 127.0.0.0/8 [::1]/128
smtpd_peername_lookup = no
smtp_dns_support_level = disabled
biff = no
alias_maps =
alias_database =
readme_directory = no

# No rewriting or adding of headers (Date, Message-ID, From, To) for
# loopback clients: a message arrives in the maildir as sent, below the
# Return-Path, Delivered-To and Received headers that Postfix prepends.
local_header_rewrite_clients =
always_add_missing_headers = no

# Extensions: PIPELINING, SIZE, VRFY, ETRN, STARTTLS (port $PF_PORT), AUTH (on TLS),
# ENHANCEDSTATUSCODES, 8BITMIME, DSN, SMTPUTF8, CHUNKING.
message_size_limit = 10485760
smtputf8_enable = yes
smtpd_tls_security_level = may
smtpd_tls_chain_files = $INTEROP_DIR/server.key, $INTEROP_DIR/server.pem
smtpd_tls_loglevel = 1

# AUTH (SASL by the Dovecot peer, over its auth socket; the mechanisms are
# the ones Dovecot offers), offered only on TLS: after STARTTLS on port
# $PF_PORT, at once on the implicit-TLS port $PF_TLS_PORT.
smtpd_sasl_auth_enable = yes
smtpd_sasl_type = dovecot
smtpd_sasl_path = $DC_AUTH_SOCKET
smtpd_tls_auth_only = yes

# Tests make errors on purpose: answer them at once (the hard limit of 20
# errors per session stays).
smtpd_error_sleep_time = 0s
in_flow_delay = 0s

# Relay (to anywhere) from loopback; refused from elsewhere, and nothing
# but loopback can connect anyway.
smtpd_relay_restrictions = permit_mynetworks, reject_unauth_destination
smtpd_reject_unlisted_recipient = yes

# $PF_DOMAIN: maildirs under $PF_MAIL for ${PF_USERS[*]}; any other
# user there is refused at RCPT with 550 5.1.1. user+tag@$PF_DOMAIN goes to
# user. Every other domain is accepted and discarded.
virtual_mailbox_domains = $PF_DOMAIN
virtual_mailbox_base = $PF_MAIL
virtual_mailbox_maps = hash:$PF_ETC/vmailbox
virtual_uid_maps = static:$uid
virtual_gid_maps = static:$gid
unknown_virtual_mailbox_reject_code = 550
recipient_delimiter = +
default_transport = discard:smtpkit interop discards mail for other domains
relay_transport = \$default_transport
local_transport = \$default_transport

# Retry soon if a delivery fails for a while (the maildir not writable).
queue_run_delay = 10s
minimal_backoff_time = 10s
maximal_backoff_time = 60s

# The window of the rate limit on port $PF_LIMIT_PORT (master.cf); the other
# ports have no limits, and loopback is exempt from anvil's there anyway.
anvil_rate_time_unit = $PF_LIMIT_TIME_UNIT
EOF

	# The smuggling scan (interop/smuggle_test.go) also needs the plain
	# port's service with smtpd_forbid_bare_newline = yes (3.7.10 on: the
	# same as "normalize") on 127.0.0.2 and = reject on 127.0.0.3, both on
	# $PF_PORT, loopback not excluded; where this Postfix has them.
	local bare_yes='' bare_reject=''
	if [ -n "$(postconf -d smtpd_forbid_bare_newline 2>/dev/null)" ]; then
		bare_yes="127.0.0.2:$PF_PORT inet n - n - - smtpd
  -o syslog_name=postfix/bare-newline-yes -o smtpd_forbid_bare_newline=yes -o smtpd_forbid_bare_newline_exclusions="
	fi
	if [ -n "$(postconf -d smtpd_forbid_bare_newline_reject_code 2>/dev/null)" ]; then
		bare_reject="127.0.0.3:$PF_PORT inet n - n - - smtpd
  -o syslog_name=postfix/bare-newline-reject -o smtpd_forbid_bare_newline=reject -o smtpd_forbid_bare_newline_exclusions="
	fi

	cat >"$PF_ETC/master.cf.new" <<EOF
# Written by interop/start; changes here are lost on the next start.
# No service is chrooted (column 5 is n everywhere).
# service type  private unpriv  chroot  wakeup  maxproc command + args
127.0.0.1:$PF_PORT inet n - n - - smtpd
127.0.0.1:$PF_TLS_PORT inet n - n - - smtpd
  -o smtpd_tls_wrappermode=yes
# Rate-limited: MAIL number $((PF_LIMIT_MESSAGES + 1)) (and every later one) from one client
# address within anvil_rate_time_unit gets "450 4.7.1 Error: too much mail
# from ADDR"; that error reaches the hard error limit, so "421 4.7.0
# localhost Error: too many errors" follows at once and the connection is
# closed. Loopback is not exempt here. Postfix forgets a session's errors
# whenever it accepts a message, so sessions without refusals never end.
127.0.0.1:$PF_LIMIT_PORT inet n - n - - smtpd
  -o syslog_name=postfix/limit
  -o smtpd_client_message_rate_limit=$PF_LIMIT_MESSAGES
  -o smtpd_client_event_limit_exceptions=
  -o smtpd_hard_error_limit=1
$bare_yes
$bare_reject
pickup    unix  n       -       n       60      1       pickup
cleanup   unix  n       -       n       -       0       cleanup
qmgr      unix  n       -       n       300     1       qmgr
tlsmgr    unix  -       -       n       1000?   1       tlsmgr
rewrite   unix  -       -       n       -       -       trivial-rewrite
bounce    unix  -       -       n       -       0       bounce
defer     unix  -       -       n       -       0       bounce
trace     unix  -       -       n       -       0       bounce
verify    unix  -       -       n       -       1       verify
flush     unix  n       -       n       1000?   0       flush
proxymap  unix  -       -       n       -       -       proxymap
proxywrite unix -       -       n       -       1       proxymap
smtp      unix  -       -       n       -       -       smtp
relay     unix  -       -       n       -       -       smtp
showq     unix  n       -       n       -       -       showq
error     unix  -       -       n       -       -       error
retry     unix  -       -       n       -       -       error
discard   unix  -       -       n       -       -       discard
virtual   unix  -       n       n       -       -       virtual
anvil     unix  -       -       n       -       1       anvil
scache    unix  -       -       n       -       1       scache
postlog   unix-dgram n  -       n       -       1       postlogd
EOF

	: >"$PF_ETC/vmailbox.new"
	for u in "${PF_USERS[@]}" "$PF_LIMIT_USER"; do
		printf '%s@%s %s/%s/\n' "$u" "$PF_DOMAIN" "$PF_DOMAIN" "$u" >>"$PF_ETC/vmailbox.new"
	done
	echo "$PF_PORT $PF_TLS_PORT $PF_LIMIT_PORT" >"$PF_ETC/ports.new"

	PF_CHANGED=0
	postfix_install_file main.cf || true
	postfix_install_file master.cf || true
	postfix_install_file ports || true
	if postfix_install_file vmailbox || [ ! -f "$PF_ETC/vmailbox.db" ]; then
		postmap -c "$PF_ETC" "hash:$PF_ETC/vmailbox"
		touch -d "@$(($(date +%s) - 2))" "$PF_ETC/vmailbox.db"
	fi
}

postfix_start() {
	if postfix_running; then
		if ! postfix_ports_recorded; then
			if [ -z "$PF_PORT" ] || [ -z "$PF_TLS_PORT" ]; then
				interop_log "postfix: running, but $PF_ETC/ports is missing; run interop/stop first"
				return 1
			fi
			# Started by a version without the rate-limited port: add it.
			postfix_check_port_defaults
			PF_LIMIT_PORT=$(interop_free_port "$PF_LIMIT_PORT_DEFAULT" "$PF_PORT" "$PF_TLS_PORT")
		fi
		postfix_configure
		if [ "$PF_CHANGED" = 1 ] || [ "$INTEROP_CERTS_CHANGED" = 1 ]; then
			interop_log "postfix: running already; configuration changed, reloading"
			postfix -c "$PF_ETC" reload >/dev/null 2>&1
		else
			interop_log "postfix: running already ($(postfix_addrs))"
		fi
		return 0
	fi
	# A cold start begins with empty maildirs and a new log (the last one
	# is kept as postfix.log.old).
	if [ -d "$PF_MAIL" ]; then
		find "$PF_MAIL" -type f -delete
	fi
	if [ -f "$PF_LOG" ]; then
		mv -f "$PF_LOG" "$PF_LOG.old"
	fi
	# A port can be taken between choosing it and binding it: on a bind
	# failure choose again, avoiding the ports that failed.
	local failed=()
	for _ in 1 2 3; do
		postfix_pick_ports "${failed[@]}"
		postfix_configure
		local mark=0
		[ -f "$PF_LOG" ] && mark=$(wc -l <"$PF_LOG")
		if postfix -c "$PF_ETC" start >"$INTEROP_DIR/postfix/start.out" 2>&1; then
			interop_log "postfix: started ($(postfix_addrs))"
			return 0
		fi
		if [ -f "$PF_LOG" ] && tail -n +"$((mark + 1))" "$PF_LOG" | grep -q 'Address already in use'; then
			interop_log "postfix: port $PF_PORT, $PF_TLS_PORT or $PF_LIMIT_PORT was taken meanwhile; choosing again"
			failed+=("$PF_PORT" "$PF_TLS_PORT" "$PF_LIMIT_PORT")
			continue
		fi
		break
	done
	cat "$INTEROP_DIR/postfix/start.out" >&2
	interop_log "postfix: 'postfix -c $PF_ETC start' failed; 'postfix check' says:"
	postfix -c "$PF_ETC" check >&2 || true
	return 1
}

postfix_addrs() {
	echo "127.0.0.1:$PF_PORT, 127.0.0.1:$PF_TLS_PORT, rate-limited 127.0.0.1:$PF_LIMIT_PORT"
}

# postfix_ready waits for the three ports' greetings. The rate-limited
# port's greeting costs nothing against its limit (no MAIL is sent).
postfix_ready() {
	postfix_ports_recorded || return 1
	interop_wait_for "postfix on 127.0.0.1:$PF_PORT" interop_greeting_plain "$PF_PORT" &&
		interop_wait_for "postfix (implicit TLS) on 127.0.0.1:$PF_TLS_PORT" \
			interop_greeting_tls "$PF_TLS_PORT" "$INTEROP_DIR/ca.pem" &&
		interop_wait_for "postfix (rate-limited) on 127.0.0.1:$PF_LIMIT_PORT" \
			interop_greeting_plain "$PF_LIMIT_PORT"
}

postfix_env() {
	postfix_ports_recorded || return 1
	printf 'export %s=%q\n' \
		SMTPKIT_POSTFIX_ADDR "127.0.0.1:$PF_PORT" \
		SMTPKIT_POSTFIX_TLS_ADDR "127.0.0.1:$PF_TLS_PORT" \
		SMTPKIT_POSTFIX_CA "$INTEROP_DIR/ca.pem" \
		SMTPKIT_POSTFIX_MAILDIR "$PF_MAIL" \
		SMTPKIT_POSTFIX_LOG "$PF_LOG" \
		SMTPKIT_POSTFIX_LIMIT_ADDR "127.0.0.1:$PF_LIMIT_PORT" \
		SMTPKIT_POSTFIX_LIMIT_RCPT "$PF_LIMIT_USER@$PF_DOMAIN" \
		SMTPKIT_POSTFIX_LIMIT_MAILDIR "$PF_MAIL/$PF_DOMAIN/$PF_LIMIT_USER" \
		SMTPKIT_POSTFIX_LIMIT_MESSAGES "$PF_LIMIT_MESSAGES" \
		SMTPKIT_POSTFIX_LIMIT_WINDOW "$PF_LIMIT_TIME_UNIT"
	if [ -n "$(postconf -d smtpd_forbid_bare_newline 2>/dev/null)" ]; then
		printf 'export %s=%q\n' SMTPKIT_POSTFIX_BARE_NEWLINE_YES_ADDR "127.0.0.2:$PF_PORT"
	fi
	if [ -n "$(postconf -d smtpd_forbid_bare_newline_reject_code 2>/dev/null)" ]; then
		printf 'export %s=%q\n' SMTPKIT_POSTFIX_BARE_NEWLINE_REJECT_ADDR "127.0.0.3:$PF_PORT"
	fi
}

postfix_log() { interop_tail_log postfix "$PF_LOG"; }

postfix_stop() {
	if postfix_running; then
		postfix -c "$PF_ETC" stop >/dev/null 2>&1 || true
	fi
	# "postfix stop" ends the master; its children go by themselves soon
	# after. Wait for every process of this instance (they all run in the
	# queue directory), then end any straggler by its id.
	local deadline=$((SECONDS + 10)) pids daemons
	daemons=$(postconf -h daemon_directory 2>/dev/null || echo /usr/lib/postfix/sbin)
	while pids=$(interop_pids_under "$PF_QUEUE" "$daemons") && [ -n "$pids" ]; do
		if [ "$SECONDS" -ge "$deadline" ]; then
			interop_log "postfix: killing leftover processes: ${pids//$'\n'/ }"
			# shellcheck disable=SC2086
			kill -KILL $pids 2>/dev/null || true
			sleep 0.2
			break
		fi
		sleep 0.1
	done
	if pids=$(interop_pids_under "$PF_QUEUE" "$daemons") && [ -n "$pids" ]; then
		interop_log "postfix: processes still running: ${pids//$'\n'/ }"
		return 1
	fi
}
