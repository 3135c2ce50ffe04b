// Three 5 ms timers started in one millisecond of the loop's clock, 0.3 ms
// apart, fire in one timers pass: Node keeps the timers of one duration in
// one list and runs every one of it that is due, draining the tick queue
// between them, before any immediate. A Timeout's `_idleStart` is the
// loop's millisecond at its start: the three start just past a
// millisecond's beginning (starting throwaway timers until it changes), and
// if a busy machine stretched the starts across two milliseconds they are
// cleared and started again.
'use strict';

function spinMicros(us) {
  const end = process.hrtime.bigint() + BigInt(us) * 1000n;
  while (process.hrtime.bigint() < end);
}

function throwaway() {
  const t = setTimeout(() => {}, 1);
  clearTimeout(t);
  return t._idleStart;
}

// Warm up first: the first calls load and compile the timers machinery.
for (let i = 0; i < 1000; i++) throwaway();

function startThree() {
  const before = throwaway();
  while (throwaway() === before);
  const timers = [];
  for (const name of ['t1', 't2', 't3']) {
    timers.push(setTimeout(() => {
      console.log(name);
      process.nextTick(() => console.log(`${name}: tick`));
      setImmediate(() => console.log(`${name}: immediate`));
    }, 5));
    if (name !== 't3') spinMicros(300);
  }
  if (timers.every((t) => t._idleStart === timers[0]._idleStart)) return true;
  timers.forEach(clearTimeout);
  return false;
}

let tries = 1;
while (!startThree() && tries < 50) tries += 1;
console.log(tries < 50 ? 'started in one millisecond' : 'gave up: the machine is too busy');
process.on('exit', () => console.log('exit'));
