"""SHA-256 of every sample image in the foolbox==3.3.4 wheel (foolbox/data/), checked at load time.

Made once from the installed wheel with (run in the repository root):

    .venv/bin/python -c "import hashlib, importlib.util, pathlib, re; \\
    d = pathlib.Path(next(iter(importlib.util.find_spec('foolbox').submodule_search_locations))) / 'data'; \\
    [print(f'    \\"{f.name}\\": \\"{hashlib.sha256(f.read_bytes()).hexdigest()}\\",') for f in sorted(d.iterdir()) \\
     if re.match(r'(cifar10|cifar100|imagenet)_\\d+_\\d+\\.(png|jpg)$', f.name)]"
"""

FOOLBOX_VERSION = "3.3.4"

SHA256 = {
    "cifar100_00_49.png": "950650b1201b16c7b9bab15d07d0d35957ce6b2fb049dbac3993b59c1d5f71f6",
    "cifar100_01_33.png": "d393db77699ce0474c199a5dcc35aa5d0796df8c7a5ae3ddf10c07f31ab7d0b8",
    "cifar100_02_72.png": "f5b2b9ae70d58b546555ffa3a76e2ac96f30475c4fd6283f4fbf826aea7a0d27",
    "cifar100_03_51.png": "d1d96246dbcc8443d816e0d4283ce27c623dfb462c51d33ef4addec420f90905",
    "cifar100_04_71.png": "94038d0fa599e2eac2845555fc1419cbeade5da393f2b1a953747353b7e8fd6a",
    "cifar100_05_92.png": "feb279be28de4d3a1f9d339ca5ed6e14a4959113788a68b623dcd24dcd5c0279",
    "cifar100_06_15.png": "2a97893fc573f17d851bffe7cc295e19e3fdab77acf92bdc67a2eb08cfbc71f0",
    "cifar100_07_14.png": "e5932f2977a32d268fbfc2f4a3367970ec323b0f8a6b61b5e967783bac52e2e6",
    "cifar100_08_23.png": "7b972708656be532cdcf061e797480b18037fc98280216759e5aa68324ebbb92",
    "cifar100_09_0.png": "f88aaa22ad2ca6b1f2a37cb03cf308537a65d8a705feb08d16de456f732c144b",
    "cifar100_10_71.png": "6855dcb338d49eaaf249f42d62285b3ff9cf971ed478faf7bd7015f173781e59",
    "cifar100_11_75.png": "baa3402ffe23b613f11a6d2d61a52a909b223dc7f4658a436acc83345cec2308",
    "cifar100_12_81.png": "c846a02bfb3f4f90e860c37e221df64c32b4773a884c3fbbad1c20ed821bc5e5",
    "cifar100_13_69.png": "ae243464d016116024dfd32f1096d67f6caf68ed883d935bace30d640b4d2531",
    "cifar100_14_40.png": "98b1c1f5425ee96fc14a33eab46ed2ab2bef02534c01d9fc2904a1c7cf5582c4",
    "cifar100_15_43.png": "876aca1ee3e230d3ae392d535aeed73ac22228c91b3a04ac49af88f96668c6ba",
    "cifar100_16_92.png": "eed65401664dfb4718542a69d89b230b91ba7374247b5b105d179be95ab2623b",
    "cifar100_17_97.png": "977faf0c3b8f927516827080c1408cf51d9c9c4dfc26cd43b27307997f5087de",
    "cifar100_18_70.png": "da6f0ffba1bf5c66bc6f9d2b733ecb42b50e5e733d37ca714572de59e2acc09a",
    "cifar100_19_53.png": "1efc8b5f1eaa5dbc180e700370f3fa803cf6e026569a8895a2105656efc67d64",
    "cifar10_00_3.png": "0d4964922e2463ad0e2b1cd298e03d5627ff7dad1ab1cdd173ce35e9974e204f",
    "cifar10_01_8.png": "eaec54ee1aed958f9548d01aff16c41aeba408885da42759890a538888be879e",
    "cifar10_02_8.png": "3873d7fb73cd351df3244c6a16cd52eef264700093746e9ac7f8831b3ce6d2e3",
    "cifar10_03_0.png": "fce5a6515e44e57d6b4349822f25e2cf941c580c5cc2f5fc637d5743a9057338",
    "cifar10_04_6.png": "6cfbe4ca868b7da43a30545c2011658082ebf2c63680b221d9adbc9228f31192",
    "cifar10_05_6.png": "d31b1901b24199172f2f652d0b5d6661a4e346a8c1d6b436e77784e93a1d9ad7",
    "cifar10_06_1.png": "2362c09b8f26a398daac5f4edc5d04739c8b95b7adddad4e49dd6012d9e8fa1d",
    "cifar10_07_6.png": "84f9dc0df9d001f30ef3c0268a4250e13bc84c680494f2abf4ac10307253ffad",
    "cifar10_08_3.png": "d77efc76eaf52c5f4f9b76e1e313f462e7426bfebb212e431b5e10fdf7e91128",
    "cifar10_09_1.png": "5da75a70e31bfb9e28e6e5d82a4f1045227da16a82e359e27bd5a53f74a49d8d",
    "cifar10_10_0.png": "c50e97f0b6841005b23a108d01b6fe18ab1e59a0c84c9ed0d989fa854b0c9a87",
    "cifar10_11_9.png": "a7e6dca0f8fb57a9371015ee5ec609411bcf9f96c85177b5ef280c0d80b3bfe8",
    "cifar10_12_5.png": "b80d290cd1eb025112ea752b9877272fedeb7287f7d492e47bd7b31b94637aae",
    "cifar10_13_7.png": "3fe4359cdb1453db950f44a70289d4c4f75a4f92e5d822ff88a771769a085f65",
    "cifar10_14_9.png": "bdae32f37b5de6a6924aa5af401898bfd6c696f9572749a156e4cc6316c30a4e",
    "cifar10_15_8.png": "576c3d2292dd9f4effa0caa321a9da7cf774b0502ef50940443d797ff77be3ca",
    "cifar10_16_5.png": "c588d7a98d8a73cbc23a9cac274894bdb432b1394bce6647664ea8188dc1bc85",
    "cifar10_17_7.png": "9ac91edf5ca7fb19669943ce81f690dc155f245eb014ecf217b5ae16478ace05",
    "cifar10_18_8.png": "06ef95c8900cc444bf45ee23e86f9c7470eed6fba2c5290a1ae970ec708ea00e",
    "cifar10_19_6.png": "c7dfa89248f0c00066429fbc80a741d02e4a4328822280ef2c41f9c0b2c41f94",
    "imagenet_00_243.jpg": "28b7b933c8028c6e20bf74a86a709eda42ce99f14c8742cb657cb386f08a4c9d",
    "imagenet_01_559.jpg": "5f03b0c74dff01b5b4195d0beabcae2a625a406e6917957ab9c455b5b7dea6d6",
    "imagenet_02_438.jpg": "ccef0734c1a65549c6cb5adb0f5d9b1c0b2e2104aba50a9e5f9202dc6d4532ed",
    "imagenet_03_990.jpg": "c7f0b2f1e9ee39d8f900759e8983afa2e4a2d7de090060e8bb947f6e90cace5f",
    "imagenet_04_949.jpg": "a7f62f3c1d214de4718c7253871ab38209283249e131faf65b8f2b7fdc970669",
    "imagenet_05_853.jpg": "8a449436c61da867528b1f4efaf8ae832ab9c9201705eae0d3af1353fbdac131",
    "imagenet_06_609.jpg": "fb061102a4e58b3ed942bb2a4f9542e1e1acdc8f225ef95498e93889290e192f",
    "imagenet_07_609.jpg": "2c297ad1e5c4804a647e9b34bc02ee2fc348b05a4d49050d170fb61c948efa5c",
    "imagenet_08_915.jpg": "c6a3411a3987799f0de45adc142f00ca412c3e14073c635e2adfae1f3913180c",
    "imagenet_09_455.jpg": "ace3716b60ac5843269b270e17020e4f8138440cd30ef3487f7d6e54da9745a4",
    "imagenet_10_541.jpg": "f325c71d9f4290ee45e99bd7ad42f4bffe513b1450ad21e7bd61c7cb137395d9",
    "imagenet_11_630.jpg": "892dff58fc528fe63d2df0c783aa3eca2342637798578ce01763fbc0553eda01",
    "imagenet_12_741.jpg": "6c256e17545b25bbf2e06cf6513ff48d049583569515ac4d4c3a52aea804a529",
    "imagenet_13_471.jpg": "52ed0e738b90d27afcabc3e92c81ae637f160c2d9f75b93a65211005ab5dcd81",
    "imagenet_14_129.jpg": "ad9371d813bf24b0365ee2f78f28c08718ee7c5975f060caa16c3f264e828139",
    "imagenet_15_99.jpg": "4b588649cd835d4c65521727ebee03d9621baff1f54d3e8a53a26b53d983ec2e",
    "imagenet_16_251.jpg": "ce3440a3b7beb6ca3009817504c44d39fa789e7c2f70a2eef7e2f9cc9a87b129",
    "imagenet_17_22.jpg": "b432341845620e9cfd67d848c4783c32dd6eaddad45513866b17180d2b09fcf5",
    "imagenet_18_317.jpg": "b9412f92f0b1c3faede45b55a44940977daa744f2040118d0538cf597fca785d",
    "imagenet_19_305.jpg": "e1f58f00e2e47ce930d7ecab0e46a78316054f68c10d0742e87c1cc092324556",
}
