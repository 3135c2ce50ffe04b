// Run: node examples/js/three_sleeps.js — the second seed's program, the twin
// of examples/three_sleeps.rs: three timers of 1, 2 and 3 s awaited together
// take 3 s, not 6. `strace -e epoll_wait,epoll_pwait,epoll_pwait2 node
// examples/js/three_sleeps.js` shows the loop sleeping in epoll between them.
'use strict';

async function sleep(millis) {
  return new Promise((resolve) => setTimeout(resolve, millis));
}

async function main() {
  await Promise.all([sleep(1000), sleep(2000), sleep(3000)]);
  console.log('done waiting for events');
}

main();
