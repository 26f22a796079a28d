import type {
  ExportDescription,
  ExportEntry,
  ExportRefusal,
  ExportSource,
  OpenExport,
} from './exports';
import { isRefusal } from './exports';

/**
 * Several export sources as one (the inventory's disks and the recovered disks): a name is
 * looked up in each in turn; the first that knows it answers. An unknown name gets the last
 * source's refusal.
 */
export class CompositeExports implements ExportSource {
  private readonly sources: readonly ExportSource[];

  constructor(...sources: ExportSource[]) {
    this.sources = sources;
  }

  async list(): Promise<ExportEntry[]> {
    const lists = await Promise.all(this.sources.map((s) => s.list()));
    return lists.flat();
  }

  describe(name: string): Promise<ExportDescription | ExportRefusal> {
    return this.first((s) => s.describe(name));
  }

  open(name: string): Promise<OpenExport | ExportRefusal> {
    return this.first((s) => s.open(name));
  }

  private async first<T extends object>(
    ask: (source: ExportSource) => Promise<T | ExportRefusal>,
  ): Promise<T | ExportRefusal> {
    let answer: T | ExportRefusal = { refused: 'unknown', message: 'No export sources' };
    for (const source of this.sources) {
      answer = await ask(source);
      if (!isRefusal(answer) || answer.refused !== 'unknown') return answer;
    }
    return answer;
  }
}
