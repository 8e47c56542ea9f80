// The CNI plugin's side of the spec: environment and configuration checks with the spec's error
// codes, results in each cniVersion's shape, and whole invocations with the agent faked.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { runPlugin, type AgentCaller } from '../../src/agent/cni/plugin.ts';
import {
  CniError,
  CniErrorCode,
  formatResult,
  parseCniArgs,
  parseEnv,
  parseNetConf,
  validateIfname,
  type CniErrorBody,
  type CniRequest,
  type CniResult,
} from '../../src/agent/cni/protocol.ts';

const env = (over: Record<string, string | undefined> = {}) => ({
  CNI_COMMAND: 'ADD',
  CNI_CONTAINERID: 'abc123',
  CNI_NETNS: '/var/run/netns/p',
  CNI_IFNAME: 'eth0',
  CNI_PATH: '/opt/cni/bin',
  CNI_ARGS: 'IgnoreUnknown=1;K8S_POD_NAMESPACE=shop;K8S_POD_NAME=web-0',
  ...over,
});
const conf = (over: Record<string, unknown> = {}) =>
  JSON.stringify({ cniVersion: '1.1.0', name: 'cilium-ts', type: 'cilium-ts-cni', ...over });

/** What the plugin printed on stdout: an error, or VERSION's answer. */
const printedError = (stdout: string) => JSON.parse(stdout) as CniErrorBody & { cniVersion: string };
const printedVersion = (stdout: string) => JSON.parse(stdout) as { cniVersion: string; supportedVersions: string[] };

function codeOf(fn: () => unknown): number | undefined {
  try {
    fn();
  } catch (e) {
    return e instanceof CniError ? e.code : -1;
  }
  return undefined;
}

test('CNI_ARGS become key/value pairs; a pair without = is an invalid environment', () => {
  assert.deepEqual(parseCniArgs('IgnoreUnknown=1;K8S_POD_NAMESPACE=shop;K8S_POD_NAME=web-0;X=a=b'), {
    IgnoreUnknown: '1',
    K8S_POD_NAMESPACE: 'shop',
    K8S_POD_NAME: 'web-0',
    X: 'a=b',
  });
  assert.deepEqual(parseCniArgs(undefined), {});
  assert.equal(
    codeOf(() => parseCniArgs('K8S_POD_NAME')),
    CniErrorCode.INVALID_ENV,
  );
});

test("environment: per-command requirements and the spec's name rules, all code 4", async (t) => {
  const cases: Array<[string, Record<string, string | undefined>, number | undefined]> = [
    ['a complete ADD', {}, undefined],
    ['unknown command', { CNI_COMMAND: 'FOO' }, 4],
    ['ADD without container id', { CNI_CONTAINERID: undefined }, 4],
    ['ADD without netns', { CNI_NETNS: '' }, 4],
    ['DEL without netns (namespace already gone)', { CNI_COMMAND: 'DEL', CNI_NETNS: undefined }, undefined],
    ['CHECK without netns', { CNI_COMMAND: 'CHECK', CNI_NETNS: undefined }, 4],
    ['container id with a slash', { CNI_CONTAINERID: 'a/b' }, 4],
    ['container id starting with -', { CNI_CONTAINERID: '-ab' }, 4],
    ['ifname too long', { CNI_IFNAME: 'a-very-long-ifname' }, 4],
    ['ifname with a colon', { CNI_IFNAME: 'eth0:1' }, 4],
    [
      'VERSION needs nothing',
      { CNI_COMMAND: 'VERSION', CNI_CONTAINERID: undefined, CNI_NETNS: undefined, CNI_IFNAME: undefined },
      undefined,
    ],
    [
      'STATUS needs nothing',
      { CNI_COMMAND: 'STATUS', CNI_CONTAINERID: undefined, CNI_NETNS: undefined, CNI_IFNAME: undefined },
      undefined,
    ],
  ];
  for (const [name, over, code] of cases)
    await t.test(name, () =>
      assert.equal(
        codeOf(() => parseEnv(env(over))),
        code,
      ),
    );
  assert.equal(validateIfname('..'), 'is . or ..');
  assert.equal(validateIfname('eth0'), undefined);
  const inv = parseEnv(env());
  assert.deepEqual([inv.command, inv.containerId, inv.args.K8S_POD_NAME], ['ADD', 'abc123', 'web-0']);
});

test('configuration: decode 6, invalid 7, version 1, unsupported field 2', async (t) => {
  const cases: Array<[string, string, string, number | undefined]> = [
    ['valid', conf(), 'ADD', undefined],
    ['not JSON', '{', 'ADD', 6],
    ['an array', '[]', 'ADD', 7],
    ['no cniVersion', JSON.stringify({ name: 'n', type: 't' }), 'ADD', 7],
    ['no name', conf({ name: undefined }), 'ADD', 7],
    ['no type', conf({ type: '' }), 'ADD', 7],
    ['unknown version', conf({ cniVersion: '2.0.0' }), 'ADD', 1],
    ['0.4.0 is fine for ADD', conf({ cniVersion: '0.4.0' }), 'ADD', undefined],
    ['STATUS needs 1.1.0', conf({ cniVersion: '1.0.0' }), 'STATUS', 1],
    ['relative socket path', conf({ socketPath: 'cni.sock' }), 'ADD', 7],
    ['bad timeout', conf({ timeoutSeconds: -1 }), 'ADD', 7],
    ['ipam is ours, not delegated', conf({ ipam: { type: 'host-local' } }), 'ADD', 2],
  ];
  for (const [name, stdin, cmd, code] of cases)
    await t.test(name, () =>
      assert.equal(
        codeOf(() => parseNetConf(stdin, cmd as 'ADD')),
        code,
      ),
    );
});

const result: CniResult = {
  interfaces: [
    { name: 'lxc0123456789a', mac: '0e:00:00:00:00:01' },
    { name: 'eth0', mac: '0a:00:00:00:00:01', sandbox: '/var/run/netns/p' },
  ],
  ips: [{ address: '10.0.0.5/32', gateway: '10.0.0.1', interface: 1 }],
  routes: [{ dst: '0.0.0.0/0', gw: '10.0.0.1' }],
};

test("results carry the configuration's cniVersion; 0.x results name the IP version", () => {
  assert.deepEqual(formatResult(result, '1.1.0'), { cniVersion: '1.1.0', ...result, dns: {} });
  const old = formatResult(result, '0.4.0');
  assert.equal(old.cniVersion, '0.4.0');
  assert.deepEqual(old.ips, [{ version: '4', address: '10.0.0.5/32', gateway: '10.0.0.1', interface: 1 }]);
});

test('a whole invocation: the request reaches the agent and the result is printed', async () => {
  let seen: { socket: string; req: CniRequest; timeout: number } | undefined;
  const agent: AgentCaller = async (socket, req, timeout) => {
    seen = { socket, req, timeout };
    return { ok: true, result };
  };
  const out = await runPlugin({ env: env(), stdin: conf({ socketPath: '/run/x.sock', timeoutSeconds: 5 }) }, agent);
  assert.equal(out.exitCode, 0);
  assert.deepEqual(JSON.parse(out.stdout), { cniVersion: '1.1.0', ...result, dns: {} });
  assert.equal(seen?.socket, '/run/x.sock');
  assert.equal(seen?.timeout, 5000);
  assert.deepEqual(
    [seen?.req.command, seen?.req.containerId, seen?.req.netns, seen?.req.args.K8S_POD_NAMESPACE],
    ['ADD', 'abc123', '/var/run/netns/p', 'shop'],
  );

  const del = await runPlugin({ env: env({ CNI_COMMAND: 'DEL' }), stdin: conf() }, agent);
  assert.deepEqual(del, { stdout: '', exitCode: 0 });
  assert.equal(seen?.socket, '/var/run/cilium-ts/cni.sock');
});

test("errors: the agent's, ours and an unreachable agent, in the spec's shape", async () => {
  const failing: AgentCaller = async () => ({
    ok: false,
    error: { code: 102, msg: 'the pod CIDR 10.0.0.0/30 has no free address' },
  });
  const out = await runPlugin({ env: env(), stdin: conf({ cniVersion: '1.0.0' }) }, failing);
  assert.equal(out.exitCode, 1);
  assert.deepEqual(JSON.parse(out.stdout), {
    cniVersion: '1.0.0',
    code: 102,
    msg: 'the pod CIDR 10.0.0.0/30 has no free address',
  });

  const bad = await runPlugin({ env: env({ CNI_IFNAME: '' }), stdin: conf() }, failing);
  assert.equal(bad.exitCode, 1);
  assert.equal(printedError(bad.stdout).code, 4);

  const notJson = await runPlugin({ env: env(), stdin: 'nope' }, failing);
  assert.deepEqual([printedError(notJson.stdout).code, printedError(notJson.stdout).cniVersion], [6, '1.1.0']);

  const unreachable = await runPlugin({
    env: env(),
    stdin: conf({ socketPath: '/nonexistent/cni.sock', timeoutSeconds: 2 }),
  });
  assert.equal(printedError(unreachable.stdout).code, CniErrorCode.TRY_AGAIN_LATER);
  const status = await runPlugin({
    env: env({ CNI_COMMAND: 'STATUS' }),
    stdin: conf({ socketPath: '/nonexistent/cni.sock' }),
  });
  assert.equal(printedError(status.stdout).code, CniErrorCode.NOT_AVAILABLE);
});

test('VERSION answers locally, with or without a usable configuration', async () => {
  const never: AgentCaller = () => {
    throw new Error('VERSION must not call the agent');
  };
  const v = await runPlugin({ env: { CNI_COMMAND: 'VERSION' }, stdin: '{"cniVersion":"0.4.0"}' }, never);
  assert.deepEqual(JSON.parse(v.stdout), {
    cniVersion: '0.4.0',
    supportedVersions: ['0.3.0', '0.3.1', '0.4.0', '1.0.0', '1.1.0'],
  });
  const bare = await runPlugin({ env: { CNI_COMMAND: 'VERSION' }, stdin: '' }, never);
  assert.equal(printedVersion(bare.stdout).cniVersion, '1.1.0');
});
