process.stdout.write('tmon: not built yet\n');
