/**
 * A scripted AWS endpoint on loopback that speaks the JSON protocol (awsJson1_1: ECR, ECS, SSM),
 * so fault and timing tests exercise the real SDK: its signing, retries (adaptive mode included),
 * pagination and error parsing. Point a client at it with `endpoint` or AWS_ENDPOINT_URL_<SERVICE>.
 *
 *   const aws = await startAwsStub((call) => {
 *     if (call.operation === 'DescribeServices') return { body: { services: [...] } };
 *     return { error: { type: 'ThrottlingException', message: 'Rate exceeded' } };
 *   });
 *   const ecs = new ECSClient({ ...awsStubClientConfig(aws), ...awsClientConfig() });
 */
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { listenOnReachablePort } from './listen.js';

export interface AwsCall {
  /** `AmazonSSM`, `AmazonEC2ContainerServiceV20141113`, `AmazonEC2ContainerRegistry_V20150921`. */
  service: string;
  /** `ListCommandInvocations`, `DescribeServices`, ... */
  operation: string;
  input: Record<string, unknown>;
  /** ms since the stub started. */
  at: number;
}

export interface AwsReply {
  /** The JSON output of the operation. */
  body?: unknown;
  /** A service error: `type` becomes the SDK error's name. Status defaults to 400. */
  error?: { type: string; message: string; status?: number };
  /** Answer after this many ms (timeouts, slow APIs). */
  delayMs?: number;
}

export interface AwsStub {
  endpoint: string;
  calls: AwsCall[];
  /** Calls of one operation. */
  callsOf(operation: string): AwsCall[];
  close(): Promise<void>;
}

export type AwsHandler = (call: AwsCall) => AwsReply | Promise<AwsReply>;

export async function startAwsStub(handler: AwsHandler): Promise<AwsStub> {
  const calls: AwsCall[] = [];
  const started = Date.now();
  const server = http.createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', async () => {
      const target = String(req.headers['x-amz-target'] ?? '');
      const [service = '', operation = ''] = target.split('.');
      const text = Buffer.concat(chunks).toString('utf8');
      const call: AwsCall = {
        service,
        operation,
        input: text ? JSON.parse(text) : {},
        at: Date.now() - started,
      };
      calls.push(call);
      let reply: AwsReply;
      try {
        reply = await handler(call);
      } catch (error) {
        reply = { error: { type: 'InternalFailure', message: String(error), status: 500 } };
      }
      if (reply.delayMs) await new Promise((r) => setTimeout(r, reply.delayMs));
      if (res.destroyed) return;
      if (reply.error) {
        res.writeHead(reply.error.status ?? 400, {
          'content-type': 'application/x-amz-json-1.1',
          'x-amzn-errortype': reply.error.type,
          'x-amzn-requestid': `stub-${calls.length}`,
        });
        res.end(JSON.stringify({ __type: reply.error.type, message: reply.error.message }));
      } else {
        res.writeHead(200, {
          'content-type': 'application/x-amz-json-1.1',
          'x-amzn-requestid': `stub-${calls.length}`,
        });
        res.end(JSON.stringify(reply.body ?? {}));
      }
    });
  });
  await listenOnReachablePort(server, '127.0.0.1');
  const { port } = server.address() as AddressInfo;
  return {
    endpoint: `http://127.0.0.1:${port}`,
    calls,
    callsOf: (operation) => calls.filter((c) => c.operation === operation),
    close: () =>
      new Promise((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

/** Client settings that point an SDK client at the stub with throw-away credentials. */
export function awsStubClientConfig(stub: AwsStub) {
  return {
    endpoint: stub.endpoint,
    region: 'us-east-1',
    credentials: { accessKeyId: 'AKIDSTUB', secretAccessKey: 'stub-secret' },
  };
}
