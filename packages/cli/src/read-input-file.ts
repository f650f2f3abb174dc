import { readFile } from 'node:fs/promises';
import { CliError, NotFoundError } from './errors.ts';

/** A file a command was given, as text: a missing one exits 6 (not found), another failure 1, each in one line. */
export async function readInputFile(file: string): Promise<string> {
  try {
    return await readFile(file, 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') throw new NotFoundError(`no such file: ${file}`);
    throw new CliError(`cannot read ${file}: ${(err as Error).message}`);
  }
}
