#!/usr/bin/python3
"""The aiosmtpd peer's server: an SMTP server built on Debian's aiosmtpd
(python3-aiosmtpd), run by interop/peers/aiosmtpd.sh under /usr/bin/python3.

It listens on one loopback address only and offers what aiosmtpd offers:
SIZE, 8BITMIME, SMTPUTF8, STARTTLS (the interop CA's localhost certificate)
and, on TLS only, AUTH PLAIN LOGIN for the users in --users. Recipients in
--domain must be one of those users (user+tag goes to user); anyone else
there is refused at RCPT with 550 5.1.1. Other domains are accepted.

Each accepted message is stored in --store as NNNNNN.eml, exactly the
octets received after DATA with the dot-stuffing undone (CRLF line endings
kept, nothing added), with NNNNNN.json beside it holding the envelope. The
.json is renamed into place before the .eml, so an .eml that is there has
its .json too.

It binds the port, then daemonises (the command returns once the server
accepts connections, with status 0; 98 when the port is taken; 1 on other
failures), writes --pidfile, drops root privileges to --run-as and serves
until SIGTERM.
"""

import argparse
import asyncio
import errno
import hmac
import ipaddress
import json
import logging
import os
import pwd
import signal
import socket
import ssl
import sys

from aiosmtpd.smtp import SMTP, AuthResult, LoginPassword

log = logging.getLogger("smtpkit-interop")


def read_users(path):
    """USER:PASSWORD lines (UTF-8); the password may hold ':'."""
    users = {}
    with open(path, encoding="utf-8") as f:
        for line in f:
            line = line.rstrip("\n")
            if not line:
                continue
            name, sep, password = line.partition(":")
            if not sep or not name:
                raise ValueError(f"{path}: bad line {line!r}")
            users[name] = password
    return users


class Store:
    """Writes each accepted message and its envelope into one directory."""

    def __init__(self, directory):
        self.dir = directory
        self.tmp = os.path.join(directory, "tmp")
        os.makedirs(self.tmp, exist_ok=True)
        last = 0
        for name in os.listdir(directory):
            stem, ext = os.path.splitext(name)
            if ext in (".eml", ".json") and stem.isdigit():
                last = max(last, int(stem))
        self.next = last + 1

    def _put(self, name, data):
        tmp = os.path.join(self.tmp, name)
        with open(tmp, "wb") as f:
            f.write(data)
        os.rename(tmp, os.path.join(self.dir, name))

    def save(self, envelope_info, content):
        n = self.next
        self.next += 1
        stem = f"{n:06d}"
        self._put(stem + ".json", json.dumps(envelope_info, ensure_ascii=False, indent=1).encode("utf-8") + b"\n")
        self._put(stem + ".eml", content)
        return stem


class Handler:
    def __init__(self, store, domain, users):
        self.store = store
        self.domain = domain.lower()
        self.users = users

    def known(self, address):
        local, at, domain = address.rpartition("@")
        if not at or domain.lower() != self.domain:
            return True  # another domain: accepted (and stored)
        return local.split("+", 1)[0] in self.users

    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):
        if not self.known(address):
            return f"550 5.1.1 <{address}>: Recipient address rejected: User unknown"
        envelope.rcpt_tos.append(address)
        envelope.rcpt_options.extend(rcpt_options)
        return "250 OK"

    async def handle_DATA(self, server, session, envelope):
        content = envelope.original_content
        if isinstance(content, str):  # only with decode_data, which is off
            content = content.encode("utf-8", "surrogateescape")
        login = None
        if session.authenticated and isinstance(session.auth_data, str):
            login = session.auth_data
        info = {
            "mail_from": envelope.mail_from,
            "mail_options": envelope.mail_options,
            "rcpt_tos": envelope.rcpt_tos,
            "rcpt_options": envelope.rcpt_options,
            "smtp_utf8": envelope.smtp_utf8,
            "helo": session.host_name,
            "peer": list(session.peer) if session.peer else None,
            "tls": server._tls_protocol is not None,
            "authenticated": bool(session.authenticated),
            "auth_user": login,
            "size": len(content),
        }
        stem = self.store.save(info, content)
        log.info("stored %s: from <%s> to %s, %d octets", stem, envelope.mail_from,
                 ", ".join(f"<{r}>" for r in envelope.rcpt_tos), len(content))
        return f"250 OK stored as {stem}"


def make_authenticator(users):
    def authenticator(server, session, envelope, mechanism, auth_data):
        if not isinstance(auth_data, LoginPassword):
            return AuthResult(success=False, handled=False)
        login = auth_data.login.decode("utf-8", "replace")
        # As Dovecot's auth_username_format = %n: the part before an "@".
        name = login.split("@", 1)[0]
        want = users.get(name)
        if want is not None and hmac.compare_digest(want.encode("utf-8"), auth_data.password):
            log.info("AUTH %s: %s authenticated", mechanism, name)
            return AuthResult(success=True, auth_data=name)
        log.info("AUTH %s: %r failed", mechanism, login)
        return AuthResult(success=False, handled=False)
    return authenticator


def parse_args():
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--dir", required=True, help="the instance's directory (identifies it)")
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, required=True)
    p.add_argument("--cert", required=True)
    p.add_argument("--key", required=True)
    p.add_argument("--users", required=True)
    p.add_argument("--store", required=True)
    p.add_argument("--domain", default="example.org")
    p.add_argument("--size-limit", type=int, default=10485760)
    p.add_argument("--pidfile", required=True)
    p.add_argument("--run-as", default="nobody")
    return p.parse_args()


def main():
    args = parse_args()
    logging.basicConfig(level=logging.INFO, stream=sys.stderr,
                        format="%(asctime)s %(process)d %(name)s %(levelname)s %(message)s")
    try:
        host = ipaddress.ip_address(args.host)
    except ValueError:
        log.error("--host must be an IP address, not %r", args.host)
        return 2
    if not host.is_loopback:
        log.error("refusing to listen on %s: loopback only", host)
        return 2

    # Everything that can fail is done before daemonising, so that the
    # caller gets the failure as the exit status.
    users = read_users(args.users)
    tls = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    tls.load_cert_chain(args.cert, args.key)
    runas = pwd.getpwnam(args.run_as)
    sock = socket.socket(socket.AF_INET6 if host.version == 6 else socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((str(host), args.port))
    except OSError as e:
        log.error("bind %s port %d: %s", host, args.port, e.strerror)
        return 98 if e.errno == errno.EADDRINUSE else 1
    sock.listen(128)
    sock.setblocking(False)

    # Daemonise: the grandchild serves; the first process waits for its
    # word that it accepts connections, then exits.
    r, w = os.pipe()
    if os.fork() > 0:
        os.close(w)
        sock.close()
        word = os.read(r, 16)
        return 0 if word == b"ok" else 1
    os.close(r)
    os.setsid()
    if os.fork() > 0:
        os._exit(0)

    os.chdir(args.dir)
    tmp = args.pidfile + ".tmp"
    with open(tmp, "w") as f:
        f.write(f"{os.getpid()}\n")
    os.rename(tmp, args.pidfile)

    store = Store(args.store)
    os.setgroups([])
    os.setgid(runas.pw_gid)
    os.setuid(runas.pw_uid)

    loop = asyncio.new_event_loop()
    asyncio.set_event_loop(loop)
    handler = Handler(store, args.domain, users)
    authenticator = make_authenticator(users)

    def factory():
        return SMTP(
            handler,
            data_size_limit=args.size_limit,
            enable_SMTPUTF8=True,
            decode_data=False,
            hostname="localhost",
            tls_context=tls,
            require_starttls=False,
            auth_required=False,
            auth_require_tls=True,
            authenticator=authenticator,
            loop=loop,
        )

    server = loop.run_until_complete(loop.create_server(factory, sock=sock))

    def stop(signame):
        log.info("%s: stopping", signame)
        server.close()
        loop.stop()

    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop, sig.name)
    log.info("listening on %s port %d (pid %d, as %s)", host, args.port, os.getpid(), args.run_as)
    os.write(w, b"ok")
    os.close(w)
    try:
        loop.run_forever()
    finally:
        loop.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
