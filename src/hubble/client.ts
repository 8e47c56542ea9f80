// A client of Hubble's observer API (ours or Cilium's): GetFlows as an async iterator, ServerStatus.
import * as grpc from '@grpc/grpc-js';
import { observerPackage } from './proto.ts';
import type { GetFlowsRequest } from './server.ts';
import type { GetFlowsResponse } from './printer.ts';
import type { ServerStatusResponse__Output } from './generated/observer/ServerStatusResponse.ts';
import type { GetNamespacesResponse__Output } from './generated/observer/GetNamespacesResponse.ts';

type ObserverStub = grpc.Client & {
  GetFlows(req: GetFlowsRequest, opts?: grpc.CallOptions): grpc.ClientReadableStream<GetFlowsResponse>;
  ServerStatus(
    req: object,
    opts: grpc.CallOptions,
    cb: (err: grpc.ServiceError | null, res: ServerStatus) => void,
  ): grpc.ClientUnaryCall;
  GetNodes(
    req: object,
    opts: grpc.CallOptions,
    cb: (err: grpc.ServiceError | null, res: { nodes?: unknown[] }) => void,
  ): grpc.ClientUnaryCall;
  GetNamespaces(
    req: object,
    opts: grpc.CallOptions,
    cb: (err: grpc.ServiceError | null, res: GetNamespacesResponse__Output) => void,
  ): grpc.ClientUnaryCall;
};

export type ServerStatus = ServerStatusResponse__Output;

/** "localhost:4245", "unix:///var/run/hubble.sock", "/var/run/hubble.sock" → a grpc-js target. */
export function grpcTarget(address: string): string {
  if (address.startsWith('/')) return `unix:${address}`;
  return address.replace(/^(https?|tcp):\/\//, '');
}

export class ObserverClient {
  readonly address: string;
  readonly #stub: ObserverStub;

  /** `options`: grpc-js channel options (reconnect backoff, keepalive), as Hubble Relay sets for its peers */
  constructor(address: string, options: grpc.ChannelOptions = {}) {
    this.address = address;
    const loaded = grpc.loadPackageDefinition(observerPackage()) as unknown as {
      observer: {
        Observer: new (target: string, creds: grpc.ChannelCredentials, options: grpc.ChannelOptions) => ObserverStub;
      };
    };
    this.#stub = new loaded.observer.Observer(grpcTarget(address), grpc.credentials.createInsecure(), options);
  }

  /** The connection, for its connectivity state. */
  get channel(): ReturnType<grpc.Client['getChannel']> {
    return this.#stub.getChannel();
  }

  /** Stream GetFlows responses until the server ends the stream or `signal` aborts. */
  async *getFlows(req: GetFlowsRequest, signal?: AbortSignal): AsyncGenerator<GetFlowsResponse, void, undefined> {
    const call = this.#stub.GetFlows(req);
    const cancel = () => call.cancel();
    signal?.addEventListener('abort', cancel);
    try {
      for await (const res of call as AsyncIterable<GetFlowsResponse>) yield res;
    } catch (err) {
      if ((err as grpc.ServiceError).code === grpc.status.CANCELLED && signal?.aborted) return;
      throw err;
    } finally {
      signal?.removeEventListener('abort', cancel);
      call.cancel();
    }
  }

  serverStatus(timeoutMs = 5000): Promise<ServerStatus> {
    return new Promise((resolve, reject) => {
      this.#stub.ServerStatus({}, { deadline: Date.now() + timeoutMs }, (err, res) =>
        err ? reject(err) : resolve(res),
      );
    });
  }

  getNamespaces(timeoutMs = 5000): Promise<GetNamespacesResponse__Output> {
    return new Promise((resolve, reject) => {
      this.#stub.GetNamespaces({}, { deadline: Date.now() + timeoutMs }, (err, res) =>
        err ? reject(err) : resolve(res),
      );
    });
  }

  close(): void {
    this.#stub.close();
  }
}
