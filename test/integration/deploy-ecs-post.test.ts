/**
 * The deploy-ecs post step, from its committed bundle run as the runner runs it, against the AWS
 * JSON stub speaking CodeDeploy: it stops, with automatic rollback, the CodeDeploy deployments a
 * main step that died left running, and does nothing after a main step that finished.
 */
import { startAwsStub, type AwsStub } from '../../stand-ins/aws-json.js';
import { runAction, stateEnv } from '../../stand-ins/runner.js';

const POST = 'actions/deploy-ecs/dist/post/index.js';

let stub: AwsStub | undefined;
afterEach(async () => {
  await stub?.close();
  stub = undefined;
});

async function post(state: Record<string, string>) {
  stub = await startAwsStub(async (call) =>
    call.operation === 'StopDeployment'
      ? { body: { status: 'Pending', statusMessage: 'Stopping deployment' } }
      : { error: { type: 'InvalidAction', message: `${call.operation} is not scripted` } },
  );
  return runAction(
    POST,
    { cluster: 'prod', services: 'api\nweb' },
    {
      env: {
        ...stateEnv(state),
        AWS_ENDPOINT_URL_CODEDEPLOY: stub.endpoint,
        AWS_ACCESS_KEY_ID: 'AKIDSTUB',
        AWS_SECRET_ACCESS_KEY: 'stub-secret-key',
      },
      timeoutMs: 30_000,
    },
  );
}

it('stops the CodeDeploy deployments of a main step that died, with automatic rollback', async () => {
  const r = await post({
    'codedeploy-deployments': JSON.stringify({ api: 'd-ABC123', web: 'd-DEF456' }),
    region: 'eu-west-1',
  });
  expect(r.code).toBe(0);
  expect(stub!.callsOf('StopDeployment').map((c) => c.input)).toEqual([
    { deploymentId: 'd-ABC123', autoRollbackEnabled: true },
    { deploymentId: 'd-DEF456', autoRollbackEnabled: true },
  ]);
  expect(r.stdout).toContain('api: stopped CodeDeploy deployment d-ABC123 with automatic rollback');
});

it('does nothing after a main step that finished, or that created no CodeDeploy deployment', async () => {
  const finished = await post({
    'codedeploy-deployments': JSON.stringify({ api: 'd-ABC123' }),
    region: 'eu-west-1',
    finished: 'true',
  });
  expect(finished.code).toBe(0);
  expect(stub!.calls).toEqual([]);
  await stub!.close();
  const none = await post({});
  expect(none.code).toBe(0);
  expect(stub!.calls).toEqual([]);
});
