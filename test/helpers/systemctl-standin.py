#!/usr/bin/python3
"""A recorded stand-in for systemctl on a deploy test's host.

CI machines run no systemd as PID 1, so the deployer's service step talks to this instead
(installed as /usr/bin/systemctl inside the test host's private mount namespace). It does
what systemd does for a Type=notify unit, as far as the deployer can see: reads the unit
file (ExecStart, User, Group, SupplementaryGroups, WatchdogSec, TimeoutStartSec), starts
the service as its user with NOTIFY_SOCKET and WATCHDOG_USEC, holds `start` until READY=1
(failing if the service exits first), stops it with SIGTERM. Every call is recorded, one
JSON line each, in /var/log/systemctl-standin.log.

Supported: daemon-reload, enable [--now], disable [--now], start, stop, restart,
is-active, is-enabled, show -p MainPID --value.
"""
import json
import os
import shlex
import signal
import socket
import subprocess
import sys
import time

UNIT_DIR = '/etc/systemd/system'
STATE_DIR = '/run/systemctl-standin'
LOG = '/var/log/systemctl-standin.log'


def record(argv, code):
    with open(LOG, 'a') as log:
        log.write(json.dumps({'argv': argv, 'code': code, 'at': time.time()}) + '\n')


def unit_name(name):
    return name if name.endswith('.service') else name + '.service'


def parse_unit(name):
    values = {}
    with open(os.path.join(UNIT_DIR, name)) as f:
        for line in f:
            line = line.strip()
            if not line or line.startswith('#') or line.startswith('[') or '=' not in line:
                continue
            key, value = line.split('=', 1)
            values[key] = value
    return values


def state_path(name, what):
    return os.path.join(STATE_DIR, name + '.' + what)


def read_state(name):
    try:
        with open(state_path(name, 'state')) as f:
            return json.load(f)
    except FileNotFoundError:
        return {'state': 'inactive'}


def write_state(name, state):
    tmp = state_path(name, 'state.tmp')
    with open(tmp, 'w') as f:
        json.dump(state, f)
    os.rename(tmp, state_path(name, 'state'))


def seconds(value, default):
    if value is None or value == '':
        return default
    value = value.strip()
    if value.endswith('min'):
        return float(value[:-3]) * 60
    if value.endswith('s'):
        return float(value[:-1])
    return float(value)


def monitor(name):
    """The service's supervisor, in the background: starts it, reads its notifications."""
    unit = parse_unit(name)
    path = state_path(name, 'notify')
    if os.path.exists(path):
        os.unlink(path)
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    sock.bind(path)
    user = unit.get('User')
    if user:
        import pwd
        os.chown(path, pwd.getpwnam(user).pw_uid, -1)
    env = {'PATH': '/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin',
           'NOTIFY_SOCKET': path, 'LANG': 'C.UTF-8'}
    watchdog = unit.get('WatchdogSec')
    if watchdog:
        env['WATCHDOG_USEC'] = str(int(seconds(watchdog, 0) * 1_000_000))
    groups = [g for g in unit.get('SupplementaryGroups', '').split() if g]
    out = open(state_path(name, 'out'), 'ab')
    child = subprocess.Popen(
        shlex.split(unit['ExecStart']), env=env, stdin=subprocess.DEVNULL, stdout=out,
        stderr=out, user=user or None, group=unit.get('Group') or None,
        extra_groups=groups or None, cwd='/', start_new_session=True)
    state = {'state': 'activating', 'pid': child.pid, 'watchdog': 0}
    write_state(name, state)
    sock.settimeout(0.2)
    while True:
        code = child.poll()
        if code is not None:
            state['state'] = 'inactive' if code == 0 and state['state'] == 'deactivating' else 'failed'
            state['exit'] = code
            write_state(name, state)
            sock.close()
            os.unlink(path)
            return
        try:
            data, anc, _, _ = sock.recvmsg(4096, socket.CMSG_SPACE(16 * 4))
        except socket.timeout:
            continue
        for level, kind, payload in anc:
            if level == socket.SOL_SOCKET and kind == socket.SCM_RIGHTS:
                for i in range(0, len(payload) - len(payload) % 4, 4):
                    os.close(int.from_bytes(payload[i:i + 4], sys.byteorder))
        lines = data.decode(errors='replace').split('\n')
        if 'READY=1' in lines and state['state'] == 'activating':
            state['state'] = 'active'
        if 'STOPPING=1' in lines:
            state['state'] = 'deactivating'
        if 'WATCHDOG=1' in lines:
            state['watchdog'] += 1
        for line in lines:
            if line.startswith('STATUS='):
                state['status'] = line[len('STATUS='):]
        write_state(name, state)


def start(name):
    state = read_state(name)
    if state['state'] in ('active', 'activating'):
        return 0
    unit = parse_unit(name)
    if os.fork() == 0:
        os.setsid()
        if os.fork() == 0:
            devnull = os.open(os.devnull, os.O_RDWR)
            for fd in (0, 1, 2):
                os.dup2(devnull, fd)
            try:
                monitor(name)
            finally:
                os._exit(0)
        os._exit(0)
    deadline = time.time() + seconds(unit.get('TimeoutStartSec'), 90)
    time.sleep(0.05)
    while time.time() < deadline:
        state = read_state(name)
        if state['state'] == 'active':
            return 0
        if state['state'] == 'failed':
            sys.stderr.write('Job for %s failed because the control process exited with error code.\n' % name)
            return 1
        time.sleep(0.05)
    sys.stderr.write('Job for %s failed because a timeout was exceeded.\n' % name)
    stop(name)
    return 1


def stop(name):
    state = read_state(name)
    pid = state.get('pid')
    if state['state'] in ('inactive', 'failed') or pid is None:
        return 0
    try:
        os.kill(pid, signal.SIGTERM)
    except ProcessLookupError:
        return 0
    timeout = seconds(parse_unit(name).get('TimeoutStopSec'), 90) if os.path.exists(os.path.join(UNIT_DIR, name)) else 90
    deadline = time.time() + timeout
    while time.time() < deadline:
        if read_state(name)['state'] in ('inactive', 'failed'):
            return 0
        time.sleep(0.05)
    os.kill(pid, signal.SIGKILL)
    return 0


def main(argv):
    args = [a for a in argv if not a.startswith('-')]
    flags = [a for a in argv if a.startswith('-')]
    os.makedirs(STATE_DIR, exist_ok=True)
    if not args:
        return 1
    verb, names = args[0], [unit_name(a) for a in args[1:]]
    if verb == 'daemon-reload':
        return 0
    if verb == 'show':
        # show -p MainPID --value UNIT
        name = unit_name(args[-1])
        print(read_state(name).get('pid', 0) if read_state(name)['state'] == 'active' else 0)
        return 0
    code = 0
    for name in names:
        if verb in ('enable', 'disable') and not os.path.exists(os.path.join(UNIT_DIR, name)) and verb == 'enable':
            sys.stderr.write('Failed to enable unit: Unit file %s does not exist.\n' % name)
            return 1
        if verb == 'enable':
            open(state_path(name, 'enabled'), 'w').close()
            if '--now' in flags:
                code = code or start(name)
        elif verb == 'disable':
            if os.path.exists(state_path(name, 'enabled')):
                os.unlink(state_path(name, 'enabled'))
            if '--now' in flags:
                code = code or stop(name)
        elif verb == 'start':
            code = code or start(name)
        elif verb == 'stop':
            code = code or stop(name)
        elif verb == 'restart':
            stop(name)
            code = code or start(name)
        elif verb == 'is-active':
            state = read_state(name)['state']
            print(state)
            code = 0 if state == 'active' else 3
        elif verb == 'is-enabled':
            enabled = os.path.exists(state_path(name, 'enabled'))
            print('enabled' if enabled else 'disabled')
            code = 0 if enabled else 1
        else:
            sys.stderr.write('systemctl stand-in: unsupported verb %s\n' % verb)
            return 1
    return code


if __name__ == '__main__':
    rc = main(sys.argv[1:])
    record(sys.argv[1:], rc)
    sys.exit(rc)
