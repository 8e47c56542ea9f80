// winston, one JSON event per line in production (stable keys: component, kind, namespace, name …),
// a readable line on a terminal. LOG_FORMAT=json|text and LOG_LEVEL override.
import winston from 'winston';

const format =
  (process.env.LOG_FORMAT ?? (process.stderr.isTTY ? 'text' : 'json')) === 'json'
    ? winston.format.combine(winston.format.timestamp(), winston.format.json())
    : winston.format.combine(
        winston.format.timestamp({ format: 'HH:mm:ss' }),
        winston.format.printf(({ timestamp, level, message, component, ...rest }) => {
          const extra = Object.keys(rest).length ? ' ' + JSON.stringify(rest) : '';
          return `${timestamp} ${level.padEnd(5)} ${component ? `[${component}] ` : ''}${message}${extra}`;
        }),
      );

const root = winston.createLogger({
  level: process.env.LOG_LEVEL ?? 'info',
  format,
  // Logs go to stderr so that commands keep stdout for their output.
  transports: [new winston.transports.Console({ stderrLevels: ['error', 'warn', 'info', 'http', 'verbose', 'debug', 'silly'] })],
});

export type Logger = winston.Logger;

export function logger(component: string): Logger {
  return root.child({ component });
}
