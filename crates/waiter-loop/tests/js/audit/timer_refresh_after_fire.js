// `refresh()` on a timeout that already ran reactivates it (Node's docs:
// "If the timer has already called its callback, this will activate the
// timer again"), also from inside its own callback; a cleared one stays
// cleared. An unref'd one, refreshed, still does not hold the loop.
'use strict';

let runs = 0;
const t = setTimeout(() => {
  runs += 1;
  console.log(`timeout run ${runs}, hasRef ${t.hasRef()}`);
  if (runs === 1) {
    setImmediate(() => {
      console.log(`after run 1: hasRef ${t.hasRef()}`);
      t.refresh();
      console.log(`refreshed: hasRef ${t.hasRef()}`);
      quiet.refresh();
      console.log('unref\'d timeout refreshed');
    });
  } else if (runs === 2) {
    t.refresh();
  }
}, 10);

const cleared = setTimeout(() => console.log('cleared: never'), 1);
clearTimeout(cleared);
cleared.refresh();

const quiet = setTimeout(() => console.log('unref: never (nothing else holds the loop by then)'), 1000);
quiet.unref();
process.on('exit', () => console.log('exit'));
