import assert from 'node:assert/strict';
import { test } from 'node:test';
import { renderAgentUnit } from '../../main/services/deploy/agent-unit';

const TEMPLATE =
  'ExecStart=@INSTALL_DIR@/bin/a run --data-dir @DATA_DIR@ --listen @LISTEN@\nSupplementaryGroups=@GROUPS@\n';
const OK = {
  installDir: '/opt/tideline/current',
  dataDir: '/var/lib/tideline',
  listen: '[::]:7443',
  groups: [],
};

test('the unit is filled in', () => {
  assert.equal(
    renderAgentUnit(TEMPLATE, {
      ...OK,
      installDir: '/opt/tideline/0.1.0/',
      groups: ['libvirt', 'kvm'],
    }),
    'ExecStart=/opt/tideline/0.1.0/bin/a run --data-dir /var/lib/tideline --listen [::]:7443\nSupplementaryGroups=libvirt kvm\n',
  );
});

test('values that could add a directive or a specifier are refused', () => {
  for (const bad of [
    { dataDir: '/var/lib/x\nExecStartPre=/bin/rm -rf /' },
    { dataDir: 'relative/dir' },
    { installDir: '/opt/%h' },
    { listen: '0.0.0.0:7443 --evil' },
    { groups: ['libvirt\nUser=root'] },
    { groups: ['Root'] },
  ]) {
    assert.throws(
      () => renderAgentUnit(TEMPLATE, { ...OK, ...bad }),
      /cannot go into the service unit/,
    );
  }
});

test('a placeholder left without a value is a bug, not a unit', () => {
  assert.throws(() => renderAgentUnit(`${TEMPLATE}X=@NEW@\n`, OK), /@NEW@ has no value/);
});
