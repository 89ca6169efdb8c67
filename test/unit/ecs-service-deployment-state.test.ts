import { stateOf } from '../../src/ecs/service-deployment.js';

it('reads each service deployment status as the state the followers switch over', () => {
  const kinds = [
    undefined,
    'PENDING',
    'IN_PROGRESS',
    'SUCCESSFUL',
    'ROLLBACK_REQUESTED',
    'ROLLBACK_IN_PROGRESS',
    'ROLLBACK_SUCCESSFUL',
    'ROLLBACK_FAILED',
    'STOPPED',
    'STOP_REQUESTED',
  ].map((status) => stateOf({ status } as never).kind);
  expect(kinds).toEqual([
    'in-progress',
    'in-progress',
    'in-progress',
    'successful',
    'rolling-back',
    'rolling-back',
    'rolled-back',
    'rollback-failed',
    'stopped',
    'stopped',
  ]);
});

it('follows a status this SDK does not know yet as in progress (the deadline still holds)', () => {
  expect(stateOf({ status: 'PAUSED_FOR_REVIEW' } as never)).toEqual({ kind: 'in-progress' });
});
