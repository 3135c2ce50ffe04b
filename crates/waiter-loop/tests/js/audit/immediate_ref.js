// An Immediate's ref()/unref()/hasRef(): an unref'd immediate does not keep
// the loop alive, but runs when the loop turns for another reason; ref()
// undoes unref(); one that ran or was cleared has no ref.
'use strict';

const a = setImmediate(() => console.log('a: unref\'d, ref\'d again, runs'));
a.unref();
a.ref();
const b = setImmediate(() => {
  console.log(`b: unref'd, runs as a holds the loop; a.hasRef after it ran ${a.hasRef()}`);
  const c = setImmediate(() => console.log('c: unref\'d, runs as the timeout holds the loop'));
  c.unref();
  setTimeout(() => {
    console.log('timeout');
    const e = setImmediate(() => console.log('e: never (unref\'d, nothing holds the loop)'));
    e.unref();
    console.log(`e.hasRef ${e.hasRef()}`);
  }, 100);
});
b.unref();
console.log(`a.hasRef ${a.hasRef()}, b.hasRef ${b.hasRef()}`);
const d = setImmediate(() => console.log('d: never (cleared)'));
d.unref();
d.ref();
clearImmediate(d);
d.ref();
console.log(`d.hasRef after clear ${d.hasRef()}`);
process.on('exit', () => console.log('exit'));
