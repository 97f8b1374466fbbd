/**
 * Type-level checks of `decorate` as a legacy (`experimentalDecorators`) decorator, next to the
 * real NestJS decorators. Compiled by `npm run typecheck` with this folder's tsconfig (legacy
 * decorators, emitDecoratorMetadata) and never run; `test/decorate.test.ts` runs the same shape.
 */
import "reflect-metadata";
import { Controller, Get, Injectable } from "@nestjs/common";
import { AsyncCircuitBreakerFactory, SyncCircuitBreakerFactory } from "../../../src/index.js";

const circuitbreaker = new AsyncCircuitBreakerFactory();
const sync = new SyncCircuitBreakerFactory();

@Controller("items")
export class ItemsController {
  // Above or below a Nest route decorator.
  @circuitbreaker.decorate("items-api")
  @Get(":id")
  async find(id: string): Promise<string> {
    return `item ${id}`;
  }

  @Get()
  @circuitbreaker.decorate((query?: string) => `search:${query ?? ""}`)
  async search(query?: string): Promise<string[]> {
    return [query ?? ""];
  }
}

@Injectable()
export class ParserService {
  @sync.decorate("parser")
  parse(text: string): unknown {
    return JSON.parse(text);
  }

  // @ts-expect-error: the async factory's wrapper returns a promise; parseLater returns a value.
  @circuitbreaker.decorate("parser-async")
  parseLater(text: string): unknown {
    return JSON.parse(text);
  }

  // @ts-expect-error: a void method too.
  @circuitbreaker.decorate("logger")
  log(line: string): void {
    console.log(line);
  }
}
