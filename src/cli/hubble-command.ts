// `cilium-ts hubble relay`: Hubble Relay for the cluster (src/hubble/relay), until SIGINT/SIGTERM.
// The relay's code is imported only once the flags are read.
import { parseArgs } from 'node:util';
import { FlagError, integerFlag } from './flags.ts';

export const hubbleUsage = `usage: cilium-ts hubble relay [--listen 127.0.0.1:4245] [--peer-service ADDR] [--dial-timeout MS]

  --listen ADDR        where the relay serves Hubble's observer API (host:port, :port for every address,
                       or unix:/path); default 127.0.0.1:4245, or $HUBBLE_RELAY_LISTEN
  --peer-service ADDR  an agent's peer service (peer.Peer/Notify, on its observer port) that lists the
                       cluster's agents; default $HUBBLE_PEER_SERVICE, else hubble-peer.kube-system.svc:443
  --dial-timeout MS    how long a request waits for an agent still connecting (default 2000)
`;

export async function hubbleCommand(args: string[]): Promise<number | undefined> {
  const [sub, ...rest] = args;
  if (sub === undefined || sub === '-h' || sub === '--help') {
    process.stdout.write(hubbleUsage);
    return sub === undefined ? 2 : 0;
  }
  if (sub !== 'relay') return undefined;
  const { values } = parseArgs({
    args: rest,
    options: {
      listen: { type: 'string', default: process.env.HUBBLE_RELAY_LISTEN ?? '127.0.0.1:4245' },
      'peer-service': { type: 'string', default: process.env.HUBBLE_PEER_SERVICE ?? 'hubble-peer.kube-system.svc:443' },
      'dial-timeout': { type: 'string', default: '2000' },
      help: { type: 'boolean', short: 'h' },
    },
  });
  if (values.help) {
    process.stdout.write(hubbleUsage);
    return 0;
  }
  const listen = values.listen.startsWith(':') ? `0.0.0.0${values.listen}` : values.listen;
  if (!values['peer-service']) throw new FlagError("--peer-service must name an agent's peer service");
  const dialWaitMs = integerFlag('dial-timeout', values['dial-timeout']);
  const { startRelay } = await import('../hubble/relay/relay-server.ts');
  const relay = await startRelay({ listen, peerService: values['peer-service'], dialWaitMs });
  process.stdout.write(`hubble relay listening on ${relay.address} (peers from ${values['peer-service']})\n`);
  await new Promise<void>((resolve) => {
    process.once('SIGINT', resolve);
    process.once('SIGTERM', resolve);
  });
  await relay.stop();
  return 0;
}
