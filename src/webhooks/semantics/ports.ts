// Port parsing is policy vocabulary (src/policy/api/ports.ts); kept here for existing importers.
export { isSvcName, parsePort, svcNameRules, type ParsedPort } from '../../policy/api/index.ts';
