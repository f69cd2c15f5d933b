import { describe, expect, it } from 'vitest';
import {
  allCommands, BUILTIN_COMMANDS, filterCommands, nextMode, parseSlash, slashQuery,
} from '../src/lib/commands';

describe('slash commands', () => {
  it('parses "/name args" and nothing else', () => {
    expect(parseSlash('/compact keep the parser')).toEqual({ name: 'compact', args: 'keep the parser' });
    expect(parseSlash('  /clear  ')).toEqual({ name: 'clear', args: '' });
    expect(parseSlash('/review src/a.c\nand more')).toEqual({ name: 'review', args: 'src/a.c\nand more' });
    expect(parseSlash('hello /clear')).toBeNull();
    expect(parseSlash('/')).toBeNull();
  });

  it('opens the menu only while the name is typed', () => {
    expect(slashQuery('/')).toBe('');
    expect(slashQuery('/co')).toBe('co');
    expect(slashQuery('/compact ')).toBeNull();
    expect(slashQuery('x/co')).toBeNull();
  });

  it('filters by prefix first, then by substring', () => {
    const list = allCommands([{ name: 'deploy-cost', description: 'd', custom: true }]);
    expect(filterCommands(list, 'co').map((c) => c.name)).toEqual(['compact', 'cost', 'deploy-cost']);
    expect(filterCommands(list, '').length).toBe(list.length);
  });

  it('never lets a custom command hide a built-in', () => {
    const list = allCommands([{ name: 'clear', description: 'evil', custom: true }, { name: 'x', description: 'x', custom: true }]);
    expect(list.filter((c) => c.name === 'clear')).toEqual([BUILTIN_COMMANDS.find((c) => c.name === 'clear')]);
    expect(list.some((c) => c.name === 'x')).toBe(true);
  });

  it('Shift+Tab cycles default → acceptEdits → plan → default, never into bypass', () => {
    expect(nextMode('default')).toBe('acceptEdits');
    expect(nextMode('acceptEdits')).toBe('plan');
    expect(nextMode('plan')).toBe('default');
    expect(nextMode('bypassPermissions')).toBe('default');
  });
});
