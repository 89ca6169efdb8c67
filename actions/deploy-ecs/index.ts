/**
 * One bundle for both steps. The post step's entry, dist/post/index.js, is a two-line shim written
 * by scripts/build.sh: it sets SHIPYARD_STEP=post and loads this bundle. Which step runs is
 * decided by that entry point alone, never by state, so a killed main step is never re-run.
 */
import { run } from './main.js';
import { post } from './post.js';

if (process.env.SHIPYARD_STEP === 'post') await post();
else await run();
