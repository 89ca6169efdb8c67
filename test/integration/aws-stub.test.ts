/** The AWS JSON stub drives the real SDK: retries on throttling, and pagination. */
import { ECSClient, DescribeServicesCommand } from '@aws-sdk/client-ecs';
import { SSMClient, paginateListCommandInvocations } from '@aws-sdk/client-ssm';
import { awsClientConfig, isThrottling } from '../../src/aws.js';
import { awsStubClientConfig, startAwsStub } from '../../stand-ins/aws-json.js';

it('the SDK retries throttling errors by itself in adaptive mode', async () => {
  const stub = await startAwsStub((call) =>
    stub.calls.length < 3
      ? { error: { type: 'ThrottlingException', message: 'Rate exceeded' } }
      : { body: { services: [{ serviceName: call.input.services ? 'api' : '?' }], failures: [] } },
  );
  const ecs = new ECSClient({ ...awsClientConfig(), ...awsStubClientConfig(stub) });
  const out = await ecs.send(new DescribeServicesCommand({ cluster: 'c', services: ['api'] }));
  expect(out.services?.[0]?.serviceName).toBe('api');
  expect(stub.callsOf('DescribeServices')).toHaveLength(3);
  expect(stub.calls[0]?.service).toBe('AmazonEC2ContainerServiceV20141113');
  await stub.close();
});

it('throttling that outlives the retries surfaces as a named error', async () => {
  const stub = await startAwsStub(() => ({
    error: { type: 'ThrottlingException', message: 'Rate exceeded' },
  }));
  const ecs = new ECSClient({
    ...awsClientConfig({ maxAttempts: 2 }),
    ...awsStubClientConfig(stub),
  });
  const error = await ecs
    .send(new DescribeServicesCommand({ cluster: 'c', services: ['api'] }))
    .catch((e: unknown) => e);
  expect(isThrottling(error)).toBe(true);
  expect(stub.calls).toHaveLength(2);
  await stub.close();
});

it('paginators follow NextToken through the stub', async () => {
  const stub = await startAwsStub((call) => {
    const page = Number(call.input.NextToken ?? 0);
    return {
      body: {
        CommandInvocations: [{ InstanceId: `i-${page}`, Status: 'Success' }],
        ...(page < 2 ? { NextToken: String(page + 1) } : {}),
      },
    };
  });
  const ssm = new SSMClient({ ...awsClientConfig(), ...awsStubClientConfig(stub) });
  const ids: string[] = [];
  for await (const page of paginateListCommandInvocations({ client: ssm }, { CommandId: 'c-1' })) {
    ids.push(...(page.CommandInvocations ?? []).map((i) => i.InstanceId ?? ''));
  }
  expect(ids).toEqual(['i-0', 'i-1', 'i-2']);
  expect(stub.calls[0]).toMatchObject({
    service: 'AmazonSSM',
    operation: 'ListCommandInvocations',
  });
  await stub.close();
});
