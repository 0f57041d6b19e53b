#!/usr/bin/env python3
"""Socket hand-offs for the attribution test (proc_churn_test.py, phase "hand-offs"):
processes that pass sockets on (SCM_RIGHTS), dup them, fork with them and exec with them,
reusing fd numbers at once the way servers do. Run inside the test's network namespace;
reads one command a line on stdin, answers "ok" (or "error ...") on stdout when the step is
in place. The main process is `h-client`: it holds the client end of every connection.

Commands:
  pass-setup K   `h-dispatch` accepts K connections; `h-worker` waits for fds
  pass-move      h-dispatch sends each to h-worker and closes it, then accepts K new ones
                 (the next accept gets the fd number just closed)
  dup-setup      `h-dup` accepts 21 connections and dup()s the first (two fds, one socket)
  dup-reuse      h-dup closes the first fd; the next accept gets its number, the socket
                 lives on through the dup
  fork-setup K   `h-parent` accepts K connections
  fork-split     h-parent forks `h-child`, which keeps them; the parent closes its copies
                 (the child's fd numbers are the parent's)
  exec-setup K   `h-before` accepts K connections
  exec           h-before execs itself as `h-after`, keeping the sockets
  quit
"""
import ctypes
import os
import socket
import sys

LIBC = ctypes.CDLL(None, use_errno=True)
# Sockets of the main process (h-client) that a forked role must not keep.
CLIENTS = []
HOLD = []
PR_SET_NAME = 15


def set_name(name):
    LIBC.prctl(PR_SET_NAME, name.encode(), 0, 0, 0)


def listener():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    s.listen(128)
    return s


class Role:
    """A forked process running `body(ctl)` with a control socket; commands are
    lines, answered with "ok"."""

    def __init__(self, name, body):
        self.ctl, child = socket.socketpair()
        pid = os.fork()
        if pid == 0:
            self.ctl.close()
            for c in CLIENTS:
                c.close()
            set_name(name)
            try:
                body(child)
            finally:
                os._exit(0)
        child.close()
        self.pid = pid
        self.file = self.ctl.makefile("rw")

    def call(self, line):
        self.file.write(line + "\n")
        self.file.flush()
        answer = self.file.readline().strip()
        if not answer.startswith("ok"):
            raise RuntimeError(f"role answered {answer!r} to {line!r}")
        return answer


def serve(ctl, handlers):
    f = ctl.makefile("rw")
    for line in f:
        words = line.split()
        if not words or words[0] == "quit":
            break
        answer = handlers[words[0]](*words[1:])
        f.write(f"ok {answer or ''}\n")
        f.flush()


def main():
    if len(sys.argv) > 2 and sys.argv[1] == "--exec-target":
        # After exec: the sockets are fds 3.. (inheritable); the control socket's fd.
        set_name("h-after")
        ctl = socket.socket(fileno=int(sys.argv[2]))
        serve(ctl, {})
        return
    set_name("h-client")
    clients = CLIENTS
    roles = {}
    ports = {}

    def connect(port, n):
        for _ in range(n):
            clients.append(socket.create_connection(("127.0.0.1", port)))

    # h-dispatch and h-worker share a UNIX socket pair for SCM_RIGHTS.
    pass_a, pass_b = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)

    def dispatcher(ctl):
        pass_b.close()
        lst = listener()
        held = []

        def accept(n):
            for _ in range(int(n)):
                held.append(lst.accept()[0])
            return " ".join(str(s.fileno()) for s in held)

        def move():
            fds = []
            for s in held:
                socket.send_fds(pass_a, [b"x"], [s.fileno()])
                fds.append(s.fileno())
                s.close()
            held.clear()
            return " ".join(map(str, fds))
        serve(ctl, {"port": lambda: lst.getsockname()[1], "accept": accept, "move": move})

    def worker(ctl):
        pass_a.close()
        got = []

        def receive(n):
            for _ in range(int(n)):
                _, fds, _, _ = socket.recv_fds(pass_b, 1, 1)
                got.append(socket.socket(fileno=fds[0]))
            return " ".join(str(s.fileno()) for s in got)
        serve(ctl, {"receive": receive})

    def simple(ctl, extra=None):
        lst = listener()
        held = []

        def accept(n):
            for _ in range(int(n)):
                held.append(lst.accept()[0])
            return " ".join(str(s.fileno()) for s in held)
        handlers = {"port": lambda: lst.getsockname()[1], "accept": accept}
        if extra:
            handlers.update(extra(lst, held))
        serve(ctl, handlers)

    def dup_extra(lst, held):
        state = {}

        def dup():
            state["dup"] = os.dup(held[0].fileno())
            return f"{held[0].fileno()} {state['dup']}"

        def reuse():
            fd = held[0].fileno()
            held[0].detach()
            os.close(fd)  # the socket lives on through the dup
            s = lst.accept()[0]
            held[0] = s
            return f"{fd} -> {s.fileno()}"
        return {"dup": dup, "reuse": reuse}

    def fork_extra(lst, held):
        def split():
            ready_r, ready_w = os.pipe()
            hold_r, hold_w = os.pipe()
            pid = os.fork()
            if pid == 0:
                set_name("h-child")
                os.close(ready_r)
                os.close(hold_w)
                os.write(ready_w, b"1")
                os.close(ready_w)
                try:
                    os.read(hold_r, 1)  # EOF when h-parent exits
                finally:
                    os._exit(0)
            os.close(hold_r)
            HOLD.append(hold_w)
            os.close(ready_w)
            os.read(ready_r, 1)
            os.close(ready_r)
            for s in held:
                s.close()
            held.clear()
            return str(pid)
        return {"split": split}

    def exec_extra(lst, held):
        def do_exec():
            for s in held:
                os.set_inheritable(s.fileno(), True)
            os.set_inheritable(EXEC_CTL[0], True)
            os.execv(sys.executable, [sys.executable, os.path.abspath(__file__),
                                      "--exec-target", str(EXEC_CTL[0])])
        return {"exec": do_exec}

    EXEC_CTL = [None]

    def exec_role(ctl):
        EXEC_CTL[0] = ctl.fileno()
        simple(ctl, exec_extra)

    out = sys.stdout
    for line in sys.stdin:
        words = line.split()
        if not words:
            continue
        cmd, args = words[0], words[1:]
        try:
            if cmd == "quit":
                break
            if cmd == "pass-setup":
                roles["d"] = Role("h-dispatch", dispatcher)
                roles["w"] = Role("h-worker", worker)
                pass_a.close()
                pass_b.close()
                ports["d"] = int(roles["d"].call("port").split()[1])
                connect(ports["d"], int(args[0]))
                answer = roles["d"].call(f"accept {args[0]}")
                ports["k"] = int(args[0])
            elif cmd == "pass-move":
                k = ports["k"]
                # The worker waits for k fds while the dispatcher sends them.
                roles["w"].file.write(f"receive {k}\n")
                roles["w"].file.flush()
                moved = roles["d"].call("move")
                received = roles["w"].file.readline().strip()
                connect(ports["d"], k)
                again = roles["d"].call(f"accept {k}")
                answer = f"moved {moved}; worker {received}; dispatcher now {again}"
            elif cmd == "dup-setup":
                roles["u"] = Role("h-dup", lambda c: simple(c, dup_extra))
                port = int(roles["u"].call("port").split()[1])
                ports["u"] = port
                connect(port, 21)
                roles["u"].call("accept 21")
                answer = roles["u"].call("dup")
            elif cmd == "dup-reuse":
                connect(ports["u"], 1)
                answer = roles["u"].call("reuse")
            elif cmd == "fork-setup":
                roles["p"] = Role("h-parent", lambda c: simple(c, fork_extra))
                port = int(roles["p"].call("port").split()[1])
                connect(port, int(args[0]))
                answer = roles["p"].call(f"accept {args[0]}")
            elif cmd == "fork-split":
                answer = roles["p"].call("split")
            elif cmd == "exec-setup":
                roles["e"] = Role("h-before", exec_role)
                port = int(roles["e"].call("port").split()[1])
                connect(port, int(args[0]))
                answer = roles["e"].call(f"accept {args[0]}")
            elif cmd == "exec":
                r = roles["e"]
                r.file.write("exec\n")
                r.file.flush()
                answer = "exec sent"
            else:
                raise RuntimeError(f"unknown command {cmd}")
            out.write(f"ok {answer}\n")
        except Exception as e:  # noqa: BLE001 - reported to the test
            out.write(f"error {e!r}\n")
        out.flush()
    for r in roles.values():
        try:
            r.file.write("quit\n")
            r.file.flush()
        except OSError:
            pass


if __name__ == "__main__":
    main()
