// Where the agent's local API listens. A module of its own so that `cilium-ts status` and the other
// inspection commands can find the socket without loading the agent.
export const DEFAULT_AGENT_SOCKET = '/var/run/cilium-ts/agent.sock';
