// Vitest setup for every test file.
//
// preact/hooks schedules effects with requestAnimationFrame raced against a
// 100 ms setTimeout whose callback calls cancelAnimationFrame. A component
// unmounted at the end of a file leaves that timer armed; on a slow machine
// it fires after jsdom has been torn down and throws "cancelAnimationFrame is
// not defined". Let the pending effect timers of a file run out while its
// environment still exists.
import { afterAll } from 'vitest';

afterAll(() => new Promise<void>((resolve) => setTimeout(resolve, 150)));
