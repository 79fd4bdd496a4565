// Vercel AI SDK capture (copied into v5/ and v6/ so each resolves its own node_modules; run via run.py).
// env: OPENAI_BASE_URL (fake server), OTLP_URL (collector /v1/traces), SCENARIO, CONTEXT (async|none)
import { AsyncLocalStorageContextManager } from "@opentelemetry/context-async-hooks";
import { context, trace } from "@opentelemetry/api";
import { OTLPTraceExporter } from "@opentelemetry/exporter-trace-otlp-proto";
import { resourceFromAttributes } from "@opentelemetry/resources";
import { BasicTracerProvider, BatchSpanProcessor } from "@opentelemetry/sdk-trace-base";
import { createOpenAI } from "@ai-sdk/openai";
import * as ai from "ai";
import { z } from "zod";

const scenario = process.env.SCENARIO;
const exporter = new OTLPTraceExporter({ url: process.env.OTLP_URL });
const provider = new BasicTracerProvider({
  resource: resourceFromAttributes({ "service.name": "capture-vercel-ai" }),
  spanProcessors: [new BatchSpanProcessor(exporter)],
});
// "none": no context manager registered (a common setup mistake): every span starts its own trace
if (process.env.CONTEXT !== "none") context.setGlobalContextManager(new AsyncLocalStorageContextManager().enable());
trace.setGlobalTracerProvider(provider);

const openai = createOpenAI({ baseURL: process.env.OPENAI_BASE_URL, apiKey: "sk-capture-not-a-key" });
const telemetry = { isEnabled: true, functionId: "support-answer",
                    metadata: { sessionId: "session-v", userId: "user-v" } };
const question = "What is the capital of France?";

if (scenario === "plain" || scenario === "nocontext") {
  await ai.generateText({ model: openai.chat("gpt-4o-mini"), prompt: question, experimental_telemetry: telemetry });
} else if (scenario === "responses") {
  await ai.generateText({ model: openai("gpt-4o-mini"), prompt: question, experimental_telemetry: telemetry });
} else if (scenario === "stream") {
  const result = ai.streamText({ model: openai.chat("gpt-4o-mini"), prompt: question, experimental_telemetry: telemetry });
  for await (const _ of result.textStream) { /* drain */ }
} else if (scenario === "tools") {
  const weather = ai.tool({ description: "Weather for a city", inputSchema: z.object({ city: z.string() }),
                            execute: async ({ city }) => ({ city, sky: "sunny", c: 22 }) });
  await ai.generateText({ model: openai.chat("gpt-4o-mini"), prompt: "What's the weather in Paris?",
                          tools: { get_weather: weather }, stopWhen: ai.stepCountIs(3),
                          experimental_telemetry: telemetry });
} else if (scenario === "bedrock") {
  const { createAmazonBedrock } = await import("@ai-sdk/amazon-bedrock");  // v6 only
  const bedrock = createAmazonBedrock({ region: "us-east-1", baseURL: process.env.BEDROCK_BASE_URL,
                                        accessKeyId: "AKIACAPTURE", secretAccessKey: "capture-not-a-secret" });
  await ai.generateText({ model: bedrock("anthropic.claude-3-5-haiku-20241022-v1:0"), prompt: question,
                          experimental_telemetry: telemetry });
} else if (scenario === "error") {
  try {
    await ai.generateText({ model: openai.chat("gpt-missing"), prompt: "Hello?", maxRetries: 0,
                            experimental_telemetry: telemetry });
  } catch (e) { console.log("error as expected:", e.constructor.name); }
}
await provider.forceFlush();
await provider.shutdown();
